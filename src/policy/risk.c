#include "policy/risk.h"

#include <string.h>

#include "policy/checks.h"

/* A kind whose decayed weight falls under this is forgotten. */
#define FORGET_BELOW 1.0
#define WEIGHT_MAX 100

enum { FIRED_TIP = 1, FIRED_REVIEW = 2, FIRED_RESTRICT = 4 };

/* The signals one participant sent in a conversation. */
struct side {
    float mass[SIGNAL_KINDS];       /* weight per kind, decayed to ref_ms */
    uint32_t seen_s[SIGNAL_KINDS];  /* last seen, seconds after first_ms */
    uint8_t fired;                  /* FIRED_* */
};

/* One conversation: 216 bytes, plus 16 of index. */
struct convo {
    struct ptable_head h;
    uint64_t who[2];                /* the sessions' hashes, who[0] < who[1] */
    int64_t first_ms, last_ms;
    int64_t ref_ms;                 /* the time both sides' masses are at */
    uint32_t messages;              /* both ways, saturating */
    struct side side[2];            /* side[i]: what who[i] sent */
};

/* A session that sent signals: 32 bytes, plus 16 of index. */
struct rsession {
    struct ptable_head h;
    float score;                    /* decayed to ref_ms */
    uint8_t fired;
    int64_t ref_ms;
};

static struct ptable convos = PTABLE_INIT(struct convo);
static struct ptable sessions = PTABLE_INIT(struct rsession);

/* 2^-x for x >= 0 without libm: halvings for the whole part, the
 * exponential series for the rest (|y| < ln 2: 14 terms reach 1e-13).
 * The series stops at the first term that moves the sum neither up nor
 * down: every later one is smaller, so none could, and the result is the
 * full sum's to the bit. Between two messages x is tiny (a minute is 1e-4
 * of the half-life) and three terms or so do instead of fourteen. */
static double half_pow(double x)
{
    if (x <= 0)
        return 1;
    if (x >= 63)
        return 0;
    int whole = (int)x;
    double y = -(x - whole) * 0.69314718055994531, term = 1, sum = 1;
    for (int n = 1; n < 14; n++) {
        term *= y / n;
        if (sum + term == sum && sum - term == sum)
            break;
        sum += term;
    }
    return whole ? sum / (double)(1ULL << whole) : sum;
}

/* How much of a weight noted at from_ms is left at to_ms. */
static double decay(int64_t from_ms, int64_t to_ms)
{
    return half_pow((double)(to_ms - from_ms) / (double)policy_cfg.risk_half_life_ms);
}

static int rounded(double x)
{
    return (int)(x + 0.5);
}

/* A side's score with its masses multiplied by f (decay to some time),
 * without changing it. */
static double side_score(const struct side *s, double f)
{
    double sum = 0;
    int distinct = 0;
    for (int k = 0; k < SIGNAL_KINDS; k++) {
        double m = s->mass[k] * f;
        if (m >= FORGET_BELOW) {
            sum += m;
            distinct++;
        }
    }
    return distinct ? sum * (1 + 0.5 * (distinct - 1)) : 0;
}

static bool has_mass(const struct convo *c)
{
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < SIGNAL_KINDS; k++)
            if (c->side[i].mass[k] != 0)
                return true;
    return false;
}

/* Most conversations never carry a signal: nothing to decay there. */
static void decay_convo(struct convo *c, int64_t now_ms)
{
    if (now_ms <= c->ref_ms)
        return;
    if (has_mass(c)) {
        double f = decay(c->ref_ms, now_ms);
        for (int i = 0; i < 2; i++) {
            for (int k = 0; k < SIGNAL_KINDS; k++) {
                double m = c->side[i].mass[k] * f;
                c->side[i].mass[k] = m >= FORGET_BELOW ? (float)m : 0;
            }
        }
    }
    c->ref_ms = now_ms;
}

/* The effects of thresholds the score reaches for the first time. */
static unsigned fire(uint8_t *fired, int score, unsigned at, uint8_t bit, unsigned effect)
{
    if (score < (int)at || (*fired & bit))
        return 0;
    *fired |= bit;
    return effect;
}

/* The key of the conversation between sessions ha and hb, either way.
 * One private message looks its conversation up two or three times (the
 * risk note, the friction check, the count), so the last key is kept: it
 * depends on nothing but the two keys. */
static uint64_t pair_key(uint64_t ha, uint64_t hb, uint64_t who[2])
{
    static struct {
        uint64_t who[2], key;
        bool is_set;
    } last;
    who[0] = ha < hb ? ha : hb;
    who[1] = ha < hb ? hb : ha;
    if (!last.is_set || last.who[0] != who[0] || last.who[1] != who[1]) {
        memcpy(last.who, who, sizeof last.who);
        last.key = policy_hash(who, 2 * sizeof *who);
        last.is_set = true;
    }
    return last.key;
}

static struct convo *find_convo(uint64_t ha, uint64_t hb)
{
    uint64_t who[2];
    return ptable_find(&convos, pair_key(ha, hb, who));
}

/* The conversation of ha and hb, made the most recent; when there is none
 * yet, a new one if may_add, else NULL. */
static struct convo *use_convo(uint64_t ha, uint64_t hb, int64_t now_ms, bool may_add)
{
    uint64_t who[2];
    uint64_t key = pair_key(ha, hb, who);
    struct convo *c = ptable_find(&convos, key);
    if (c) {
        ptable_touch(&convos, c);
        return c;
    }
    if (!may_add)
        return NULL;
    c = ptable_add(&convos, key, policy_cfg.risk_max_conversations);
    memcpy(c->who, who, sizeof who);
    c->first_ms = c->last_ms = c->ref_ms = now_ms;
    return c;
}

/* Adds the signals to the sender's side; returns the weight they added. */
static double add_signals(struct convo *c, struct side *s, unsigned signals,
                          const int weight[SIGNAL_KINDS], int64_t now_ms)
{
    double added = 0;
    for (int k = 1; k < SIGNAL_KINDS; k++) {
        int w = weight[k] > WEIGHT_MAX ? WEIGHT_MAX : weight[k];
        if (!(signals & (1u << k)) || w <= 0)
            continue;
        double old = s->mass[k], now = w;
        if (old > 0) {
            /* A repeat: a quarter more, up to twice the weight. */
            now = old + w / 4.0 < 2.0 * w ? old + w / 4.0 : 2.0 * w;
            if (now < old)
                now = old;
        }
        s->mass[k] = (float)now;
        s->seen_s[k] = now_ms > c->first_ms ? (uint32_t)((now_ms - c->first_ms) / 1000) : 0;
        added += now - old;
    }
    return added;
}

static unsigned note_conversation(struct convo *c, uint64_t hf, unsigned signals,
                                  const int weight[SIGNAL_KINDS], int64_t now_ms,
                                  double *added, int *score)
{
    decay_convo(c, now_ms);
    if (now_ms > c->last_ms)
        c->last_ms = now_ms;
    struct side *s = &c->side[c->who[0] == hf ? 0 : 1];
    *added = add_signals(c, s, signals, weight, now_ms);
    *score = rounded(side_score(s, 1));
    return fire(&s->fired, *score, policy_cfg.risk_tip, FIRED_TIP, EFFECT_SAFETY_TIP)
         | fire(&s->fired, *score, policy_cfg.risk_review, FIRED_REVIEW,
                EFFECT_REVIEW_CONVERSATION)
         | fire(&s->fired, *score, policy_cfg.risk_restrict, FIRED_RESTRICT,
                EFFECT_RESTRICT_PM);
}

static unsigned note_session(uint64_t hf, double added, int64_t now_ms, int *score)
{
    struct rsession *s = ptable_find(&sessions, hf);
    if (!s && added <= 0) {
        *score = 0;
        return 0;
    }
    if (!s) {
        s = ptable_add(&sessions, hf, policy_cfg.risk_max_conversations);
        s->ref_ms = now_ms;
    } else {
        ptable_touch(&sessions, s);
    }
    if (now_ms > s->ref_ms) {
        if (s->score != 0)
            s->score = (float)(s->score * decay(s->ref_ms, now_ms));
        s->ref_ms = now_ms;
    }
    s->score += (float)added;
    *score = rounded(s->score);
    return fire(&s->fired, *score, policy_cfg.session_review, FIRED_REVIEW,
                EFFECT_REVIEW_CONVERSATION);
}

static bool has_signal(unsigned signals, const int weight[SIGNAL_KINDS])
{
    for (int k = 1; k < SIGNAL_KINDS; k++)
        if ((signals & (1u << k)) && weight[k] > 0)
            return true;
    return false;
}

void risk_note_keys(uint64_t from, const uint64_t *to, unsigned signals,
                    const int weight[SIGNAL_KINDS], int64_t now_ms, struct risk_update *out)
{
    *out = (struct risk_update){0};
    double added = 0;
    struct convo *c = to ? use_convo(from, *to, now_ms, has_signal(signals, weight)) : NULL;
    if (c) {
        out->effects = note_conversation(c, from, signals, weight, now_ms, &added,
                                         &out->conversation);
    } else if (!to) {
        /* A room has no conversation to count a kind once in: each
         * signal adds its weight to the session. */
        for (int k = 1; k < SIGNAL_KINDS; k++)
            if ((signals & (1u << k)) && weight[k] > 0)
                added += weight[k] > WEIGHT_MAX ? WEIGHT_MAX : weight[k];
    }
    out->effects |= note_session(from, added, now_ms, &out->session);
}

void risk_note(const char *from, const char *to, unsigned signals,
               const int weight[SIGNAL_KINDS], int64_t now_ms, struct risk_update *out)
{
    *out = (struct risk_update){0};
    if (!from)
        return;
    uint64_t ht = to ? policy_hash_str(to) : 0;
    bool is_private = to && strcmp(from, to) != 0;
    risk_note_keys(policy_hash_str(from), is_private ? &ht : NULL, signals, weight, now_ms, out);
}

void risk_count_message_keys(uint64_t from, uint64_t to, int64_t now_ms)
{
    struct convo *c = use_convo(from, to, now_ms, true);
    if (c->messages < UINT32_MAX)
        c->messages++;
    if (now_ms > c->last_ms)
        c->last_ms = now_ms;
}

void risk_count_message(const char *from, const char *to, int64_t now_ms)
{
    if (!from || !to || strcmp(from, to) == 0)
        return;
    risk_count_message_keys(policy_hash_str(from), policy_hash_str(to), now_ms);
}

unsigned risk_exchanged_keys(uint64_t a, uint64_t b)
{
    struct convo *c = find_convo(a, b);
    return c ? c->messages : 0;
}

unsigned risk_exchanged(const char *a, const char *b)
{
    return a && b ? risk_exchanged_keys(policy_hash_str(a), policy_hash_str(b)) : 0;
}

bool risk_get(const char *from, const char *to, int64_t now_ms, struct risk_view *out)
{
    uint64_t hf = from ? policy_hash_str(from) : 0;
    struct convo *c = from && to ? find_convo(hf, policy_hash_str(to)) : NULL;
    if (!c)
        return false;
    const struct side *s = &c->side[c->who[0] == hf ? 0 : 1];
    double f = now_ms > c->ref_ms ? decay(c->ref_ms, now_ms) : 1;
    *out = (struct risk_view){.messages = c->messages, .first_ms = c->first_ms,
                              .last_ms = c->last_ms, .score = rounded(side_score(s, f))};
    for (int k = 1; k < SIGNAL_KINDS; k++) {
        if (s->mass[k] * f >= FORGET_BELOW) {
            out->kinds |= 1u << k;
            out->seen_ms[k] = c->first_ms + (int64_t)s->seen_s[k] * 1000;
        }
    }
    return true;
}

int risk_session_score(const char *session, int64_t now_ms)
{
    struct rsession *s = ptable_find(&sessions, policy_hash_str(session));
    if (!s)
        return 0;
    return rounded(s->score * (now_ms > s->ref_ms ? decay(s->ref_ms, now_ms) : 1));
}

void risk_forget(const char *session)
{
    uint64_t h = policy_hash_str(session);
    struct rsession *s = ptable_find(&sessions, h);
    if (s)
        ptable_remove(&sessions, s);
    /* Removal moves the last entry into i: look at i again. */
    for (uint32_t i = 0; i < convos.count;) {
        struct convo *c = ptable_at(&convos, i);
        if (c->who[0] == h || c->who[1] == h)
            ptable_remove(&convos, c);
        else
            i++;
    }
}

unsigned risk_conversations(void)
{
    return convos.count;
}

/* A private message reads its conversation and its sender's score
 * (checks.h); a room message reads the score only when a rule gave it a
 * signal, which is rare enough not to ask for. */
void risk_prefetch(const struct action *a, enum prefetch_stage stage)
{
    if (a->kind != ACTION_SAY_PRIVATE || !a->target_session)
        return;
    uint64_t from = policy_session_key(a), who[2];
    uint64_t convo = pair_key(from, policy_target_key(a), who);
    if (stage == PREFETCH_SLOTS) {
        ptable_prefetch_slot(&sessions, from);
        ptable_prefetch_slot(&convos, convo);
    } else {
        ptable_prefetch_entry(&sessions, from);
        ptable_prefetch_entry(&convos, convo);
    }
}
