/* gatecost: what the policy gate's text checks cost per chat message.
 *
 *   make -C bench gatecost
 *   bench/gatecost [RULES_DIR [CORPUS]]
 *
 * Loads the rule packs under RULES_DIR (default ../rules, so run it from
 * bench/), then checks the messages of CORPUS (one per line; default: a
 * built-in list of French and English chat lines, some of which match)
 * over and over, in ROUNDS rounds of at least ROUND_NS each (over a second
 * in all), each way:
 *   - the whole gate, policy_check() with every check of the chain (bans,
 *     mutes, slow mode, rate and duplicate checks, the rules, the risk
 *     score, first contacts, consent), 64 sessions talking: gate_ns;
 *   - the same with 20,000 sessions talking, whose rate, duplicate, risk
 *     and contact entries are no longer in the CPU's caches: gate_crowd_ns;
 *   - the text checks (normalise, then match): ns_per_msg;
 *   - normalisation alone: normalize_ns;
 *   - matching alone, on texts normalised beforehand: match_ns.
 * Each figure is the best round's: other work on the machine only ever
 * slows a round down, so the fastest one is the closest to the real cost.
 * Even lines are read as room messages, odd lines as private messages.
 * The last line is machine-readable:
 *   RESULT gatecost rules=N msgs=N gate_ns=X gate_crowd_ns=X ns_per_msg=X normalize_ns=X
 *          match_ns=X
 * where msgs is how many messages the whole-check rounds went through. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/room.h"
#include "policy/gate.h"
#include "policy/normalize.h"
#include "policy/rules.h"

/* Long enough for the clock and the caches to stop mattering. */
#define ROUND_NS 250000000LL
#define ROUNDS 5
/* Longest corpus line kept; longer ones are cut (normalize cuts at NORM_MAX). */
#define LINE_MAX_BYTES 4096

static const char *const builtin[] = {
    "salut tout le monde, ça va ?",
    "quelqu'un a vu le dernier épisode ? sans spoiler svp",
    "ajoute moi sur snap c'est plus simple",
    "t'as quel âge ? tu es en quelle classe ?",
    "je suis à Lyon ce week-end si ça intéresse quelqu'un pour un ciné",
    "envoie une photo de toi stp",
    "mon num c'est 06 12 34 56 78 appelle quand tu veux",
    "hello everyone, anyone here from Brussels?",
    "this song is stuck in my head since yesterday lol",
    "c'est notre secret, dis rien à tes parents",
    "on pourrait se voir en vrai, je viens te chercher",
    "jsuis trop fatigué aujourd'hui, le boulot m'a tué",
    "mdr t'es trop drôle",
    "wesh bien ou quoi",
    "let's meet up after school, don't tell your mom",
    "je t'offre une recharge de téléphone si tu veux",
    "bonne nuit à tous, à demain",
    "Quelqu'un connaît un bon resto italien à Paris 11e ?",
    "je cherche des gens pour jouer à Mario Kart ce soir",
    "$n@pch@t : moi123, écris moi",
    "w h a t s a p p ?",
    "il fait super beau à Marseille aujourd'hui ☀️",
    "je vais te buter si tu continues",
    "tu veux gagner de l'argent facilement ? clique ici",
    "I love this room, people are nice here",
    "t'es en 4e ou en 3e ?",
    "mon insta c'est @jolie.fleur",
    "Est-ce que quelqu'un a des conseils pour un entretien d'embauche ?",
    "c'est pas grave, ça arrive à tout le monde",
    "viens en privé on sera plus tranquilles",
};

struct corpus {
    char **line;
    size_t *len;
    size_t n;
};

static void corpus_add(struct corpus *c, const char *text)
{
    c->line = realloc(c->line, (c->n + 1) * sizeof *c->line);
    c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
    if (!c->line || !c->len) {
        perror("gatecost");
        exit(1);
    }
    c->line[c->n] = strdup(text);
    c->len[c->n] = strlen(text);
    c->n++;
}

static void corpus_load(struct corpus *c, const char *path)
{
    if (!path) {
        for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
            corpus_add(c, builtin[i]);
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gatecost: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    static char buf[LINE_MAX_BYTES];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0])
            corpus_add(c, buf);
    }
    fclose(f);
    if (!c->n) {
        fprintf(stderr, "gatecost: %s holds no message\n", path);
        exit(1);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct rule_context context_of(size_t i)
{
    if (i % 2)
        return (struct rule_context){.read = READ_PRIVATE};
    return (struct rule_context){.read = READ_ROOM, .room = "#amitie",
                                 .room_category = ROOM_CAT_THEME};
}

/* The timed work for one message: everything the gate does with its text.
 * Returns how many rules matched (so the work cannot be optimised away). */
static unsigned check_message(const char *text, size_t len, const struct rule_context *ctx,
                              struct norm_text *t)
{
    struct rule_hits h;
    normalize_text(text, len, t);
    rules_match(t, ctx, &h);
    return h.n;
}

struct timing {
    uint64_t msgs;
    int64_t ns;
    unsigned long hits;
};

/* One pass over the corpus; returns a count that depends on the work.
 * pre holds the corpus normalised beforehand. */
typedef unsigned long pass_fn(const struct corpus *c, const struct norm_text *pre);

static unsigned long pass_whole(const struct corpus *c, const struct norm_text *pre)
{
    (void)pre;
    struct norm_text t;
    unsigned long hits = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct rule_context ctx = context_of(i);
        hits += check_message(c->line[i], c->len[i], &ctx, &t);
    }
    return hits;
}

/* How many sessions talk in pass_gate: a few (their state stays in the
 * CPU's caches) or a crowd (every message finds its sender's and its
 * recipient's entries in memory, as on a busy server). */
#define FEW_SESSIONS 64
#define CROWD_SESSIONS 20000
static unsigned gate_sessions = FEW_SESSIONS;

/* The whole gate, as core calls it for a message: gate_sessions sessions
 * talk in a room and in private conversations they already accepted. The
 * clock moves a millisecond per message and the duplicate window is a
 * millisecond, so the cycling corpus is never refused as a repeat and
 * every check runs to the end (refusals would stop the chain early). */
static unsigned long pass_gate(const struct corpus *c, const struct norm_text *pre)
{
    (void)pre;
    static char sessions[CROWD_SESSIONS][24];
    static int64_t clock_ms = 1;
    if (!sessions[0][0])
        for (int i = 0; i < CROWD_SESSIONS; i++)
            snprintf(sessions[i], sizeof sessions[i], "bench-session-%05d", i);
    struct pm_facts pm = {.is_accepted = true};
    unsigned long allowed = 0;
    for (size_t i = 0; i < c->n; i++) {
        clock_ms++;
        const char *me = sessions[clock_ms % gate_sessions],
                   *peer = sessions[(clock_ms + 1) % gate_sessions];
        struct action a = {.kind = i % 2 ? ACTION_SAY_PRIVATE : ACTION_SAY_ROOM,
                           .nick = "bench", .target = i % 2 ? "peer" : "#amitie",
                           .text = c->line[i], .session = me, .target_session = peer,
                           .pm = &pm, .now_ms = clock_ms, .wall_ms = 1800000000000 + clock_ms,
                           .session_since_ms = 1, .room_category = ROOM_CAT_THEME};
        struct verdict v = policy_check(&a);
        allowed += v.kind == VERDICT_ALLOW;
    }
    return allowed;
}

static unsigned long pass_normalize(const struct corpus *c, const struct norm_text *pre)
{
    (void)pre;
    struct norm_text t;
    unsigned long n = 0;
    for (size_t i = 0; i < c->n; i++) {
        normalize_text(c->line[i], c->len[i], &t);
        n += t.folded_len;
    }
    return n;
}

static unsigned long pass_match(const struct corpus *c, const struct norm_text *t)
{
    unsigned long hits = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct rule_context ctx = context_of(i);
        struct rule_hits h;
        rules_match(&t[i], &ctx, &h);
        hits += h.n;
    }
    return hits;
}

/* Runs ROUNDS rounds of fn; returns the best round's ns per message and
 * adds every message to *msgs and every count to *hits. */
static double best_of(pass_fn *fn, const struct corpus *c, const struct norm_text *pre,
                      uint64_t *msgs, unsigned long *hits)
{
    double best = 0;
    for (int r = 0; r < ROUNDS; r++) {
        struct timing tm = {0};
        int64_t start = now_ns();
        do {
            tm.hits += fn(c, pre);
            tm.msgs += c->n;
            tm.ns = now_ns() - start;
        } while (tm.ns < ROUND_NS);
        double ns = (double)tm.ns / (double)tm.msgs;
        best = r == 0 || ns < best ? ns : best;
        *msgs += tm.msgs;
        *hits += tm.hits;
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../rules";
    struct corpus c = {0};
    corpus_load(&c, argc > 2 ? argv[2] : NULL);
    policy_configure(&(struct policy_config){
        .flood_rate = 4, .flood_burst = 20, .per_address = 16, .age_lock_ms = 86400000,
        .messages_per_minute = 1000000000, .duplicate_window_ms = 1});
    if (normalize_init() != 0 || rules_init(dir, NULL) != 0) {
        fprintf(stderr, "gatecost: cannot load the rules under %s\n", dir);
        return 1;
    }
    struct norm_text *pre = malloc(c.n * sizeof *pre);
    if (!pre) {
        perror("gatecost");
        return 1;
    }
    for (size_t i = 0; i < c.n; i++)
        normalize_text(c.line[i], c.len[i], &pre[i]);
    uint64_t msgs = 0, other_msgs = 0;
    unsigned long hits = 0, other = 0;
    double whole = best_of(pass_whole, &c, pre, &msgs, &hits);
    double gate = best_of(pass_gate, &c, pre, &other_msgs, &other);
    gate_sessions = CROWD_SESSIONS;
    double crowd = best_of(pass_gate, &c, pre, &other_msgs, &other);
    double norm = best_of(pass_normalize, &c, pre, &other_msgs, &other);
    double match = best_of(pass_match, &c, pre, &other_msgs, &other);
    printf("gatecost: %zu rules from %s, %zu distinct messages, %lu rule hits per pass\n",
           rules_count(), dir, c.n, hits / (unsigned long)(msgs / c.n));
    printf("RESULT gatecost rules=%zu msgs=%llu gate_ns=%.0f gate_crowd_ns=%.0f ns_per_msg=%.0f "
           "normalize_ns=%.0f match_ns=%.0f\n",
           rules_count(), (unsigned long long)msgs, gate, crowd, whole, norm, match);
    free(pre);
    rules_fini();
    for (size_t i = 0; i < c.n; i++)
        free(c.line[i]);
    free(c.line);
    free(c.len);
    return 0;
}
