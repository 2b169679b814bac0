#include "policy/gate.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "policy/checks.h"

/* What happens when no check has an opinion. ACTION_KINDS entries are
 * zero-initialised to VERDICT_NONE, which policy_check treats as deny, so a
 * new action kind fails closed until it is declared here. */
static const enum verdict_kind defaults[ACTION_KINDS] = {
    [ACTION_CONNECT] = VERDICT_ALLOW,
    [ACTION_ENTER] = VERDICT_ALLOW,
    [ACTION_COMMAND] = VERDICT_ALLOW,
    [ACTION_REGISTER] = VERDICT_ALLOW,
    [ACTION_NICK] = VERDICT_ALLOW,
    [ACTION_JOIN] = VERDICT_ALLOW,
    [ACTION_CREATE_ROOM] = VERDICT_ALLOW,
    [ACTION_SAY_ROOM] = VERDICT_ALLOW,
    [ACTION_SAY_PRIVATE] = VERDICT_ALLOW,
    [ACTION_TOPIC] = VERDICT_ALLOW,
    [ACTION_AWAY] = VERDICT_ALLOW,
};

typedef struct verdict check_fn(const struct action *a);

/* The chain, in order: who the actor is (ban, age, lockdown, mute), then
 * how much (connections, rates, slow mode, spam), then what is said
 * (content), then to whom (first contact, consent). The consent hold is
 * last so that a message held as a request has passed everything else. */
static check_fn *const chain[] = {
    check_ban,
    check_age,
    check_lockdown,
    check_mute,
    check_connection_limit,
    check_connect_rate,
    check_flood,
    check_slow_mode,
    check_spam,
    check_content,
    check_first_contact,
    check_pm_consent,
};

/* The checks whose tables a chat message reads on every call, asked for
 * their cache lines ahead (enum prefetch_stage in checks.h). */
typedef void prefetch_fn(const struct action *a, enum prefetch_stage stage);

static prefetch_fn *const prefetchers[] = {
    spam_prefetch,
    risk_prefetch,
};

const struct norm_text *policy_text;

/* The keys (policy_hash_str) of the session ids of the action being
 * checked. The rate, duplicate, risk and first-contact tables are all
 * keyed by them, so a private message would hash the same two ids about
 * a dozen times, each SipHash costing about what the lookup it feeds
 * does: they are hashed once per action instead. */
static struct {
    const struct action *action;    /* the action of policy_check, else NULL */
    uint64_t call;                  /* policy_call's number for it */
    bool has_session, has_target;
    uint64_t session, target;
} keys;

int64_t policy_mono_ms(const struct action *a)
{
    return a->now_ms ? a->now_ms : clock_mono_ms();
}

int64_t policy_wall_ms(const struct action *a)
{
    return a->wall_ms ? a->wall_ms : clock_wall_ms();
}

/* id's key, from the cache (*has, *key) when a is the action being
 * checked. */
static uint64_t cached_key(const struct action *a, const char *id, bool *has, uint64_t *key)
{
    if (a != keys.action)
        return policy_hash_str(id);
    if (!*has) {
        *key = policy_hash_str(id);
        *has = true;
    }
    return *key;
}

uint64_t policy_session_key(const struct action *a)
{
    return cached_key(a, a->session, &keys.has_session, &keys.session);
}

uint64_t policy_target_key(const struct action *a)
{
    return cached_key(a, a->target_session, &keys.has_target, &keys.target);
}

uint64_t policy_call(const struct action *a)
{
    return a == keys.action ? keys.call : 0;
}

bool policy_session_is_new(const struct action *a)
{
    return a->session_since_ms > 0
        && policy_wall_ms(a) - a->session_since_ms < policy_cfg.new_session_ms;
}

int64_t rate_wait(int64_t tat_us, unsigned per_minute, int64_t now_ms)
{
    int64_t interval = 60000000 / per_minute, now = now_ms * 1000;
    int64_t over = (tat_us > now ? tat_us : now) - now - interval * (per_minute - 1);
    return over > 0 ? (over + 999) / 1000 : 0;
}

void rate_take(int64_t *tat_us, unsigned per_minute, int64_t now_ms)
{
    int64_t now = now_ms * 1000;
    *tat_us = (*tat_us > now ? *tat_us : now) + 60000000 / per_minute;
}

/* The text a kind's checks read, if any. */
static const char *text_of(const struct action *a)
{
    switch (a->kind) {
    case ACTION_SAY_ROOM:
    case ACTION_SAY_PRIVATE:
    case ACTION_TOPIC:
    case ACTION_AWAY:
        return a->text;
    case ACTION_NICK:
    case ACTION_REGISTER:
    case ACTION_ENTER:
        return a->nick;
    case ACTION_CREATE_ROOM:
        return a->target;
    default:
        return NULL;
    }
}

/* Adds what a check asked on the side to what the earlier ones asked:
 * every effect, the first rule and warning (the earliest check is the
 * one that named them), the longest mute, the latest risk score. */
static void gather(struct verdict *all, const struct verdict *v)
{
    all->effects |= v->effects;
    if (!all->rule)
        all->rule = v->rule;
    if (!all->warning)
        all->warning = v->warning;
    if (v->mute_ms > all->mute_ms)
        all->mute_ms = v->mute_ms;
    if (v->risk)
        all->risk = v->risk;
}

/* State that only an action that went through may change. */
static void remember(const struct action *a, const struct verdict *v)
{
    switch (a->kind) {
    case ACTION_CONNECT:
        if (v->kind == VERDICT_ALLOW)
            connlimit_opened(a->addr);
        break;
    case ACTION_ENTER:
    case ACTION_REGISTER:
        if (v->kind == VERDICT_ALLOW && a->addr)
            connect_rate_known(a->addr, policy_mono_ms(a));
        break;
    case ACTION_SAY_PRIVATE:
        if (v->kind == VERDICT_ALLOW || v->kind == VERDICT_HOLD || v->kind == VERDICT_REVIEW)
            contact_passed(a);
        break;
    default:
        break;
    }
}

static void prefetch(const struct action *a, enum prefetch_stage stage)
{
    for (size_t i = 0; i < sizeof prefetchers / sizeof prefetchers[0]; i++)
        prefetchers[i](a, stage);
}

struct verdict policy_check(const struct action *a)
{
    static struct norm_text norm;
    const char *text = text_of(a);
    keys.action = a;
    keys.call++;
    keys.has_session = keys.has_target = false;
    policy_text = NULL;
    bool is_chat = (a->kind == ACTION_SAY_ROOM || a->kind == ACTION_SAY_PRIVATE) && a->session;
    if (is_chat)
        prefetch(a, PREFETCH_SLOTS);
    if (text) {
        normalize_text(text, strlen(text), &norm);
        policy_text = &norm;
    }
    if (is_chat)
        prefetch(a, PREFETCH_ENTRIES);
    struct verdict all = {.kind = VERDICT_NONE}, v = {.kind = VERDICT_NONE};
    for (size_t i = 0; i < sizeof chain / sizeof chain[0] && v.kind == VERDICT_NONE; i++) {
        v = chain[i](a);
        gather(&all, &v);
    }
    policy_text = NULL;
    if (v.kind == VERDICT_NONE) {
        if ((unsigned)a->kind < ACTION_KINDS && defaults[a->kind] != VERDICT_NONE)
            v = (struct verdict){.kind = defaults[a->kind]};
        else
            v = (struct verdict){.kind = VERDICT_DENY, .reason = "Action not permitted"};
    }
    v.effects = all.effects;
    v.rule = all.rule;
    v.warning = all.warning;
    v.mute_ms = all.mute_ms;
    v.risk = all.risk;
    remember(a, &v);
    keys.action = NULL;
    return v;
}

/* ---- bounded tables (checks.h) ---- */

/* SipHash-2-4 is called by name: crypto_shorthash() is the same function
 * behind one more call, and a message takes five or six of these. */
static unsigned char hash_key[crypto_shorthash_siphash24_KEYBYTES];
static bool has_hash_key;

uint64_t policy_hash(const void *data, size_t len)
{
    if (!has_hash_key) {
        if (sodium_init() < 0)
            abort();
        randombytes_buf(hash_key, sizeof hash_key);
        has_hash_key = true;
    }
    unsigned char out[crypto_shorthash_siphash24_BYTES];
    crypto_shorthash_siphash24(out, data, len, hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

uint64_t policy_hash_str(const char *s)
{
    return policy_hash(s, strlen(s));
}

static struct ptable_head *head_at(const struct ptable *t, uint32_t i)
{
    return (struct ptable_head *)(t->ents + (size_t)i * t->size);
}

static uint32_t index_of(const struct ptable *t, const void *e)
{
    return (uint32_t)(((const unsigned char *)e - t->ents) / t->size);
}

/* A slot holds the entry's index + 1 (0: empty) in its low half and the
 * low half of its key in the high half. The key's bits say where the
 * slot's run starts and whether the entry can be the one sought, so
 * probing and deleting read the index alone: with keys of fresh texts
 * arriving at tens of thousands a second, each entry read instead was a
 * cache miss. */
static uint64_t slot_make(uint32_t i, uint64_t key)
{
    return (uint64_t)(uint32_t)key << 32 | (i + 1);
}

static uint32_t slot_entry(uint64_t slot)
{
    return (uint32_t)slot - 1;
}

static uint32_t slot_tag(uint64_t slot)
{
    return (uint32_t)(slot >> 32);
}

/* The slot that holds entry i (which must be indexed). */
static uint32_t slot_of(const struct ptable *t, uint32_t i)
{
    uint64_t key = head_at(t, i)->key, want = slot_make(i, key);
    uint32_t mask = t->nslots - 1;
    for (uint32_t s = (uint32_t)key & mask;; s = (s + 1) & mask)
        if (t->slots[s] == want)
            return s;
}

static void index_insert(struct ptable *t, uint32_t i)
{
    uint64_t key = head_at(t, i)->key;
    uint32_t mask = t->nslots - 1, s = (uint32_t)key & mask;
    while (t->slots[s])
        s = (s + 1) & mask;
    t->slots[s] = slot_make(i, key);
}

/* Linear probing without tombstones: after emptying a slot, pull back
 * every later entry of the run that the hole would hide from its home. */
static void index_delete(struct ptable *t, uint32_t hole)
{
    uint32_t mask = t->nslots - 1;
    t->slots[hole] = 0;
    for (uint32_t s = (hole + 1) & mask; t->slots[s]; s = (s + 1) & mask) {
        uint32_t home = slot_tag(t->slots[s]) & mask;
        bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
        if (!stays) {
            t->slots[hole] = t->slots[s];
            t->slots[s] = 0;
            hole = s;
        }
    }
}

static void grow(struct ptable *t, size_t cap)
{
    uint32_t alloc = t->alloc ? t->alloc * 2 : 16;
    if (alloc > cap)
        alloc = (uint32_t)cap;
    t->ents = xrealloc(t->ents, (size_t)alloc * t->size);
    t->alloc = alloc;
    if (t->nslots >= 2 * alloc)
        return;
    free(t->slots);
    while (t->nslots < 2 * alloc)
        t->nslots = t->nslots ? t->nslots * 2 : 32;
    t->slots = xcalloc(t->nslots, sizeof *t->slots);
    for (uint32_t i = 0; i < t->count; i++)
        index_insert(t, i);
}

static void unlink_lru(struct ptable *t, uint32_t i)
{
    struct ptable_head *h = head_at(t, i);
    if (h->newer != PTABLE_NIL)
        head_at(t, h->newer)->older = h->older;
    else
        t->newest = h->older;
    if (h->older != PTABLE_NIL)
        head_at(t, h->older)->newer = h->newer;
    else
        t->oldest = h->newer;
}

static void push_newest(struct ptable *t, uint32_t i)
{
    struct ptable_head *h = head_at(t, i);
    h->newer = PTABLE_NIL;
    h->older = t->newest;
    if (t->newest != PTABLE_NIL)
        head_at(t, t->newest)->newer = i;
    else
        t->oldest = i;
    t->newest = i;
}

/* From slot s of key's run on, the first slot whose entry may be key's
 * (its tag matches), or the empty slot that ends the run. */
static uint32_t probe(const struct ptable *t, uint64_t key, uint32_t s)
{
    uint32_t mask = t->nslots - 1;
    while (t->slots[s] && slot_tag(t->slots[s]) != (uint32_t)key)
        s = (s + 1) & mask;
    return s;
}

/* The index of key's entry, or PTABLE_NIL. ptable_use works on indexes:
 * turning an entry's address back into its index is a division. */
static uint32_t find_index(struct ptable *t, uint64_t key)
{
    if (!t->count)
        return PTABLE_NIL;
    uint32_t mask = t->nslots - 1;
    for (uint32_t s = probe(t, key, (uint32_t)key & mask); t->slots[s];
         s = probe(t, key, (s + 1) & mask)) {
        uint32_t i = slot_entry(t->slots[s]);
        if (head_at(t, i)->key == key)
            return i;
    }
    return PTABLE_NIL;
}

static void touch_index(struct ptable *t, uint32_t i)
{
    if (t->newest == i)
        return;
    unlink_lru(t, i);
    push_newest(t, i);
}

void *ptable_find(struct ptable *t, uint64_t key)
{
    uint32_t i = find_index(t, key);
    return i == PTABLE_NIL ? NULL : head_at(t, i);
}

void *ptable_add(struct ptable *t, uint64_t key, size_t cap)
{
    assert(cap > 0 && cap < UINT32_MAX / 4);
    assert(!ptable_find(t, key));
    while (t->count > cap)
        ptable_remove(t, head_at(t, t->oldest));
    uint32_t i;
    if (t->count == cap) {
        /* Full: the new entry takes the least recent one's place.
         * Removing it would move the last entry into the hole, which
         * costs that entry's, its neighbours' and its slot's cache lines
         * on every key a flood brings. */
        i = t->oldest;
        index_delete(t, slot_of(t, i));
        unlink_lru(t, i);
    } else {
        if (t->count == t->alloc)
            grow(t, cap);
        i = t->count++;
    }
    struct ptable_head *h = head_at(t, i);
    memset(h, 0, t->size);
    h->key = key;
    index_insert(t, i);
    push_newest(t, i);
    return h;
}

void *ptable_use(struct ptable *t, uint64_t key, size_t cap)
{
    uint32_t i = find_index(t, key);
    if (i == PTABLE_NIL)
        return ptable_add(t, key, cap);
    touch_index(t, i);
    return head_at(t, i);
}

void ptable_touch(struct ptable *t, void *entry)
{
    touch_index(t, index_of(t, entry));
}

/* The last entry fills the hole so that the array stays dense. */
void ptable_remove(struct ptable *t, void *entry)
{
    uint32_t i = index_of(t, entry), last = t->count - 1;
    index_delete(t, slot_of(t, i));
    unlink_lru(t, i);
    if (i != last) {
        uint32_t s = slot_of(t, last);
        struct ptable_head *h = head_at(t, last);
        if (h->newer != PTABLE_NIL)
            head_at(t, h->newer)->older = i;
        else
            t->newest = i;
        if (h->older != PTABLE_NIL)
            head_at(t, h->older)->newer = i;
        else
            t->oldest = i;
        memcpy(head_at(t, i), h, t->size);
        t->slots[s] = slot_make(i, h->key);
    }
    t->count--;
}

void ptable_prefetch_slot(const struct ptable *t, uint64_t key)
{
    if (t->count)
        __builtin_prefetch(&t->slots[(uint32_t)key & (t->nslots - 1)]);
}

void ptable_prefetch_entry(const struct ptable *t, uint64_t key)
{
    if (!t->count)
        return;
    uint32_t s = probe(t, key, (uint32_t)key & (t->nslots - 1));
    if (t->slots[s])
        __builtin_prefetch(head_at(t, slot_entry(t->slots[s])));
}

void *ptable_at(struct ptable *t, uint32_t i)
{
    return i < t->count ? head_at(t, i) : NULL;
}
