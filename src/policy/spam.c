#include <stdio.h>
#include <string.h>

#include "lib/casemap.h"
#include "policy/checks.h"

/* Slow mode and spam (docs/rules.md): how often and how widely one
 * session may say things, whatever it says. Each table holds at most
 * SPAM_TABLE_MAX entries and forgets the least recently used first, so a
 * flood of new sessions or texts costs a fixed amount of memory:
 * a rate 24 bytes, a text's spread 152, each plus 16 of index (25 MB in
 * all when every table is full). */
#define SPAM_TABLE_MAX 65536
/* Texts shorter than this (folded) are never duplicates: "salut", "lol",
 * "merci !" are what everybody says. */
#define DUPLICATE_MIN_LEN 12
/* Targets or senders remembered per text: the largest duplicate_targets
 * and duplicate_sessions that can be configured. */
#define DUPLICATE_MAX 8

struct rate {
    struct ptable_head h;
    int64_t tat_us;         /* rate_wait/rate_take */
};

/* Where one session sent a text lately, or who sent it to one target.
 * Each target or sender sits next to its time, so that the usual spread
 * of one or two is read from the cache line of the entry's head. */
struct spread {
    struct ptable_head h;
    uint32_t n;
    struct {
        uint64_t who;
        int64_t at;
    } seen[DUPLICATE_MAX];
};

static struct ptable rates = PTABLE_INIT(struct rate);
static struct ptable by_sender = PTABLE_INIT(struct spread);  /* session + text */
static struct ptable by_target = PTABLE_INIT(struct spread);  /* text + target */

static struct verdict none(void)
{
    return (struct verdict){.kind = VERDICT_NONE};
}

/* Slow mode (+W): one message per member every room_slow_ms; core sets
 * room_slow_ms to 0 for those it exempts (operators, staff). */
struct verdict check_slow_mode(const struct action *a)
{
    if (a->kind != ACTION_SAY_ROOM || a->room_slow_ms <= 0 || a->last_said_ms <= 0)
        return none();
    int64_t since = policy_mono_ms(a) - a->last_said_ms;
    if (since >= a->room_slow_ms)
        return none();
    static char reason[120];
    int64_t wait = a->room_slow_ms - since;
    snprintf(reason, sizeof reason, "This room is in slow mode: you can write again in "
             "%lld s", (long long)((wait + 999) / 1000));
    return (struct verdict){.kind = VERDICT_DENY, .code = "SLOW_MODE", .reason = reason,
                            .retry_ms = wait};
}

/* messages_per_minute per session, in bursts of as many: 0 when the
 * message may go (and it is counted), else how long until it could. */
static int64_t session_rate_wait(const struct action *a, int64_t now)
{
    struct rate *r = ptable_use(&rates, policy_session_key(a), SPAM_TABLE_MAX);
    int64_t wait = rate_wait(r->tat_us, policy_cfg.messages_per_minute, now);
    if (!wait)
        rate_take(&r->tat_us, policy_cfg.messages_per_minute, now);
    return wait;
}

/* Links: http(s)://..., www...., or a bare domain with a known top-level
 * domain (x.com, x.fr, bit.ly); "1.5", "e.g." and "etc." are not. */
static const char *const tlds[] = {
    "com", "net", "org", "info", "biz", "fr", "be", "ch", "ca", "lu", "uk", "de", "es",
    "it", "nl", "eu", "io", "co", "me", "ly", "gg", "tv", "to", "app", "dev", "xyz",
    "site", "online", "club", "top", "link", "live", "shop", "ru", "us", "cc", "ws",
    "ai", "gl", "sh", "tk", "onion",
};

static bool is_tld(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof tlds / sizeof tlds[0]; i++)
        if (strlen(tlds[i]) == n && memcmp(tlds[i], s, n) == 0)
            return true;
    return false;
}

/* Whether w[0..n) is host[/path] with at least two labels of [a-z0-9-]
 * and a known top-level domain. */
static bool is_bare_domain(const char *w, size_t n)
{
    size_t host = strcspn(w, "/");
    if (host > n)
        host = n;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= host; i++) {
        if (i < host && w[i] != '.') {
            char ch = w[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
                return false;
            continue;
        }
        if (i == start)
            return false;       /* empty label */
        labels++;
        if (i == host)
            return labels >= 2 && is_tld(w + start, i - start);
        start = i + 1;
    }
    return false;
}

static bool is_link(const char *w, size_t n)
{
    static const char lead[] = "(<[\"'", trail[] = ".,;:!?)>]\"'";
    while (n && strchr(lead, *w)) {
        w++;
        n--;
    }
    while (n && strchr(trail, w[n - 1]))
        n--;
    if (!n || memchr(w, '@', n))
        return false;       /* an e-mail address: the content rules read those */
    char word[256];
    if (n >= sizeof word)
        n = sizeof word - 1;
    memcpy(word, w, n);
    word[n] = '\0';
    return strstr(word, "http://") || strstr(word, "https://") || strncmp(word, "www.", 4) == 0
        || is_bare_domain(word, n);
}

static unsigned count_links(const char *plain)
{
    unsigned links = 0;
    for (const char *p = plain; *p;) {
        size_t n = strcspn(p, " ");
        if (n && is_link(p, n))
            links++;
        p += n;
        p += strspn(p, " ");
    }
    return links;
}

/* New sessions: few links and few names per message, the shape of a
 * throwaway account's first spam. */
static struct verdict check_new_session(const struct action *a)
{
    static char reason[160];
    long long minutes = (long long)(policy_cfg.new_session_ms / 60000);
    if (policy_text && count_links(policy_text->plain) > policy_cfg.new_links_max) {
        snprintf(reason, sizeof reason, "New sessions may put at most %u link%s in a message "
                 "for their first %lld minutes", policy_cfg.new_links_max,
                 policy_cfg.new_links_max > 1 ? "s" : "", minutes);
        return (struct verdict){.kind = VERDICT_DENY, .code = "TOO_MANY_LINKS", .reason = reason};
    }
    if (a->kind == ACTION_SAY_ROOM && a->mentions > policy_cfg.new_mentions_max) {
        snprintf(reason, sizeof reason, "New sessions may name at most %u people in a message "
                 "for their first %lld minutes", policy_cfg.new_mentions_max, minutes);
        return (struct verdict){.kind = VERDICT_DENY, .code = "TOO_MANY_MENTIONS",
                                .reason = reason};
    }
    return none();
}

/* How many distinct `who` sent or got the text within the window, this
 * one included; it is remembered (or its time renewed) only when that
 * stays under limit (at most DUPLICATE_MAX, so there is room), and a
 * refused attempt changes nothing. */
static unsigned spread_count(struct spread *s, uint64_t who, int64_t now, unsigned limit)
{
    int64_t since = now - policy_cfg.duplicate_window_ms;
    uint32_t kept = 0, known = DUPLICATE_MAX;
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->seen[i].at <= since)
            continue;
        s->seen[kept] = s->seen[i];
        if (s->seen[kept].who == who)
            known = kept;
        kept++;
    }
    s->n = kept;
    unsigned count = kept + (known == DUPLICATE_MAX);
    if (count >= limit)
        return count;
    if (known == DUPLICATE_MAX)
        known = s->n++;
    s->seen[known].who = who;
    s->seen[known].at = now;
    return count;
}

static unsigned limit_of(unsigned configured)
{
    return configured < DUPLICATE_MAX ? configured : DUPLICATE_MAX;
}

/* Where the message goes: the recipient's session, else the nick or room
 * name folded as IRC compares them. */
static uint64_t target_hash(const struct action *a)
{
    if (a->kind == ACTION_SAY_PRIVATE && a->target_session)
        return policy_target_key(a);
    char folded[256];
    casemap_fold(folded, a->target ? a->target : "", sizeof folded);
    return policy_hash_str(folded);
}

/* What check_duplicate looks up: the sender's session and the target,
 * and the keys of the text's entries in by_sender and by_target. The
 * prefetch and the check of one policy_check call both need them, so
 * they are computed once per call (four hashes and a case fold). */
struct duplicate_keys {
    uint64_t who, where, sender, target;
};

static const struct duplicate_keys *duplicate_keys_of(const struct action *a)
{
    static struct duplicate_keys k;
    static uint64_t call;
    uint64_t now_call = policy_call(a);
    if (now_call && now_call == call)
        return &k;
    call = now_call;
    uint64_t text = policy_hash(policy_text->folded, policy_text->folded_len);
    k.who = policy_session_key(a);
    k.where = target_hash(a);
    uint64_t key[2] = {text, k.who};
    k.sender = policy_hash(key, sizeof key);
    key[1] = k.where;
    k.target = policy_hash(key, sizeof key);
    return &k;
}

static bool may_be_duplicate(void)
{
    return policy_text && policy_text->folded_len >= DUPLICATE_MIN_LEN;
}

/* The same text to many places from one session, or into one room (or to
 * one person) from many sessions at once: a raid pasting one line. The
 * second is per target because a greeting of twelve letters or more
 * ("bonsoir tout le monde") is said by many people across a busy server
 * every minute, but rarely five times in one room. */
static struct verdict check_duplicate(const struct action *a, int64_t now)
{
    if (!may_be_duplicate())
        return none();
    const struct duplicate_keys *k = duplicate_keys_of(a);
    struct spread *s = ptable_use(&by_sender, k->sender, SPAM_TABLE_MAX);
    unsigned limit = limit_of(policy_cfg.duplicate_targets);
    if (spread_count(s, k->where, now, limit) >= limit)
        return (struct verdict){.kind = VERDICT_DENY, .code = "DUPLICATE",
                                .reason = "You already sent this message to several places: "
                                          "please write something new"};
    s = ptable_use(&by_target, k->target, SPAM_TABLE_MAX);
    limit = limit_of(policy_cfg.duplicate_sessions);
    if (spread_count(s, k->who, now, limit) >= limit)
        return (struct verdict){.kind = VERDICT_DENY, .code = "DUPLICATE",
                                .reason = "Many people are sending this very message here: "
                                          "it looks like spam and was not sent"};
    return none();
}

struct verdict check_spam(const struct action *a)
{
    if ((a->kind != ACTION_SAY_ROOM && a->kind != ACTION_SAY_PRIVATE) || !a->session)
        return none();
    int64_t now = policy_mono_ms(a);
    int64_t wait = session_rate_wait(a, now);
    if (wait)
        return (struct verdict){.kind = VERDICT_DENY, .code = "RATE_LIMIT", .retry_ms = wait,
                                .reason = "You are sending messages too fast: wait a moment"};
    if (policy_session_is_new(a)) {
        struct verdict v = check_new_session(a);
        if (v.kind != VERDICT_NONE)
            return v;
    }
    return check_duplicate(a, now);
}

/* The session's rate entry, then the text's spread entries: their keys
 * need the normalised text, so their slots are asked for only once it
 * is there (checks.h). */
void spam_prefetch(const struct action *a, enum prefetch_stage stage)
{
    uint64_t who = policy_session_key(a);
    if (stage == PREFETCH_SLOTS) {
        ptable_prefetch_slot(&rates, who);
        return;
    }
    ptable_prefetch_entry(&rates, who);
    if (!may_be_duplicate())
        return;
    const struct duplicate_keys *k = duplicate_keys_of(a);
    ptable_prefetch_slot(&by_sender, k->sender);
    ptable_prefetch_slot(&by_target, k->target);
}
