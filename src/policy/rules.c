/* The rules engine: rule packs and dashboard changes compiled into one
 * Vectorscan database per view of the text (rules.h, docs/rules.md).
 *
 * Pack files: every "*.rules" file under the rules directory (and its
 * subdirectories, in path order), read with lib/ini. A pack that does not
 * parse or a rule that does not compile stops the server at start-up: the
 * gate fails closed, since a safety rule that silently did not load is
 * worse than a server that does not start. A reload that fails leaves the
 * running set in place. Every mistake is reported at once, each as
 * "salon: FILE:LINE: rule ID: what" on stderr.
 *
 *   [pack]             optional; when present, the file's first section
 *   lang               fr | en | fr, en: the default of the pack's rules
 *                      (without it: fr, en)
 *   description        one line for people
 *
 *   [rule ID]          ID: 1 to 63 of a-z 0-9 . _ -, unique across packs;
 *                      ids starting with "custom." are kept for the dashboard
 *   name               one line for people (default: the id)
 *   category           a report category (docs/moderation.md); required
 *   reads              a comma list of room, private, nick, room_name,
 *                      topic, away; required
 *   keywords           a comma list of words or phrases (below)
 *   regex              a regular expression (below), at most 1,000 bytes;
 *                      exactly one of keywords and regex is required
 *   and_keywords       words or phrases that must ALSO be in the same text
 *   and_regex          the same as a regex; at most one of the two. Both
 *                      parts must be Vectorscan patterns (no PCRE2)
 *                      read in the same view. "Sexual word anywhere in a
 *                      message that also says she is asleep" is written
 *                      this way, not as one regex with a gap between the
 *                      two ("(?:\W+\w+){0,6}"): such gaps cost seconds of
 *                      compiling and microseconds per message, while two
 *                      word lists cost what two keyword rules cost.
 *   view               folded | plain: the view of the text read
 *                      (normalize.h); default folded for keywords, plain
 *                      for a regex
 *   lang               fr | en | fr, en; overrides the pack's
 *   scope              all (default) | rooms (room messages, topics, names)
 *                      | private (private messages)
 *   room_categories    a comma list of theme, region, age: in room texts,
 *                      only rooms of these categories (default: any room)
 *   exempt_rooms       a comma list of #room names where the rule is off
 *   action             none | warn | flag | restrict | mute | hold | block;
 *                      required
 *   mute               Ns, Nm or Nh, from 1s to 24h; required with
 *                      action = mute, refused otherwise
 *   signal             none (default) | age_probe | school | secrecy |
 *                      off_platform | photo | meeting | gift | sexual
 *   weight             0..100 (default 0); above 0 with a signal and only
 *                      with one
 *   severity           0..100 (default: the category's severity)
 *   reason             shown to the sender, at most 300 bytes; required for
 *                      warn, mute, hold and block
 *   enabled            true (default) | false
 *
 * Keys are case-sensitive. An unknown section or key, a key given twice in
 * a rule, an unknown value, a missing required key or a duplicate id is an
 * error.
 *
 * Keywords are normalised the way texts are, so "Snapchat" also finds
 * "$n@pch@t". Each is a whole word or phrase; '*' stands for any letters
 * or digits within a word ("snap*" finds "snapshot", "snap" does not), a
 * space for any separator or none ("à son insu" finds "a-son-insu" and
 * "asoninsu"), and a doubled letter for any run of it ("whatsapp" finds
 * "whatsap").
 *
 * A regex is read caseless, '.' matching any byte, and must not match an
 * empty text. Vectorscan runs it; a regex with what Vectorscan does not
 * support (back-references, look-arounds, atomic groups, possessive
 * quantifiers) runs in PCRE2 with a match limit, behind a Vectorscan
 * prefilter when one can be built. A regex made of look-arounds only has
 * no prefilter and runs on every text it reads: anchor it with '^'.
 *
 * Dashboard changes live in one stored record (kind "rules", key
 * "overrides"): {"version": N, "disabled": [ids], "enabled": [ids switched
 * on against their pack], "added": [{"id": "custom....", "keys": {k: v}}]}.
 *
 * Threads: the loop owns the running set (matching uses its scratch
 * spaces). Compiling a new set runs on a detached worker that shares
 * nothing with the loop but the job it is handed (a copy of the directory
 * name and of the dashboard changes) and the atomic pointer it publishes
 * the finished set through. The worker calls normalize_text(), which must
 * therefore be safe to call from two threads at once. */
#include "policy/rules.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hs.h>
#include <jansson.h>
#include <sodium.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/report.h"
#include "core/room.h"
#include "lib/alloc.h"
#include "lib/casemap.h"
#include "lib/clock.h"
#include "lib/ini.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "policy/pattern.h"
#include "store/store.h"

/* A regex longer than this is refused: with PCRE2 the cost of a pattern
 * grows with its size, and a long list of words belongs in keywords. */
#define RULES_REGEX_MAX 1000
/* PCRE2 fallback limits: a crafted message cannot make a back-reference or
 * look-around pattern backtrack for long (the match then counts as none). */
#define RULES_PCRE_MATCH_LIMIT 10000
#define RULES_PCRE_DEPTH_LIMIT 1000
/* The reason travels in one IRC line (512 bytes with prefix and command,
 * RFC 2812 section 2.3). */
#define RULES_REASON_MAX 300
/* A filter mutes for a while; a longer silence is a moderator's decision. */
#define RULES_MUTE_MAX_MS (24 * 3600 * 1000LL)
/* Bounds the walk of the rules directory (a symbolic link loop). */
#define RULES_DIR_DEPTH 8

#define CUSTOM_PREFIX "custom."
#define RECORD_KIND "rules"
#define RECORD_KEY "overrides"

/* Every view's text is read with these: one report per rule per message,
 * case never matters, '.' crosses line breaks. */
#define RULES_HS_FLAGS (HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS | HS_FLAG_DOTALL)

/* ---- names of values ---- */

static const char *const action_names[] = {"none", "warn", "flag", "restrict",
                                           "mute", "hold", "block", NULL};
static const char *const signal_names[] = {"none", "age_probe", "school", "secrecy",
                                           "off_platform", "photo", "meeting", "gift",
                                           "sexual", NULL};
/* Index i is the bit 1 << i (enum rule_read, RULE_LANG_*, ROOM_CAT_*). */
static const char *const read_names[] = {"room", "private", "nick", "room_name",
                                         "topic", "away", NULL};
static const char *const lang_names[] = {"fr", "en", NULL};
static const char *const room_cat_names[] = {[ROOM_CAT_NONE] = "", [ROOM_CAT_THEME] = "theme",
                                             [ROOM_CAT_REGION] = "region",
                                             [ROOM_CAT_AGE] = "age", NULL};
static const char *const scope_names[] = {"all", "rooms", "private", NULL};
static const char *const view_names[] = {"folded", "plain", NULL};

enum key {
    KEY_NAME, KEY_CATEGORY, KEY_READS, KEY_KEYWORDS, KEY_REGEX, KEY_VIEW, KEY_LANG,
    KEY_SCOPE, KEY_ROOM_CATEGORIES, KEY_EXEMPT_ROOMS, KEY_ACTION, KEY_MUTE, KEY_SIGNAL,
    KEY_WEIGHT, KEY_SEVERITY, KEY_REASON, KEY_ENABLED, KEY_AND_KEYWORDS, KEY_AND_REGEX,
    KEY_COUNT
};
static const char *const key_names[] = {
    "name", "category", "reads", "keywords", "regex", "view", "lang", "scope",
    "room_categories", "exempt_rooms", "action", "mute", "signal", "weight", "severity",
    "reason", "enabled", "and_keywords", "and_regex", NULL};

_Static_assert(sizeof action_names / sizeof *action_names == RULE_BLOCK + 2, "actions");
_Static_assert(sizeof signal_names / sizeof *signal_names == SIGNAL_KINDS + 1, "signals");
_Static_assert(sizeof key_names / sizeof *key_names == KEY_COUNT + 1, "keys");

static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (names[i][0] && strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* "a, b, c" of the non-empty names, for error messages. */
static void names_join(const char *const *names, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; names[i] && len < cap; i++)
        if (names[i][0])
            len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", names[i]);
}

const char *rule_action_name(enum rule_action a)
{
    return a <= RULE_BLOCK ? action_names[a] : "?";
}

const char *rule_signal_name(enum rule_signal s)
{
    return s < SIGNAL_KINDS ? signal_names[s] : "?";
}

const char *rule_read_name(enum rule_read r)
{
    for (int i = 0; read_names[i]; i++)
        if (r == 1u << i)
            return read_names[i];
    return "?";
}

/* ---- the compiled set ---- */

/* Each view's rules are compiled into one database per kind of text read
 * often (room and private messages) and one for the rest (nicknames, room
 * names, topics, away texts), so that a message is only scanned for the
 * rules that read it: a room message skips the private-only rules. */
enum slot { SLOT_ROOM, SLOT_PRIVATE, SLOT_OTHER, SLOTS };
static const unsigned slot_reads[SLOTS] = {
    [SLOT_ROOM] = READ_ROOM, [SLOT_PRIVATE] = READ_PRIVATE,
    [SLOT_OTHER] = READ_NICK | READ_ROOM_NAME | READ_TOPIC | READ_AWAY};
static const char *const slot_names[SLOTS] = {"room", "private", "other"};

/* A combined rule's two parts have Vectorscan ids from here on (2 per
 * rule), away from the rules' own ids (their indexes): adding a rule
 * leaves every other id, and so the cached databases, as they were. */
#define PART_ID_BASE (1u << 24)

struct entry {
    struct rule r;
    int line;                   /* of its [rule] header; 0 from the dashboard */
    bool is_default_enabled;    /* as its pack (or its dashboard keys) say */
    pcre2_code *code;           /* the PCRE2 fallback, or NULL */
    pcre2_match_data *md;
    bool is_prefiltered;        /* Vectorscan finds candidates, PCRE2 confirms */
    bool is_limit_logged;       /* PCRE2 hit its limit once already */
    /* A combined rule's parts seen in the scan numbered parts_scan (bit
     * 0: the first part, bit 1: the and_ part); the loop thread's alone. */
    uint64_t parts_scan;
    unsigned parts_seen;
};

struct ruleset {
    struct entry **entries;     /* load order; an entry's index is its Vectorscan id */
    size_t n, cap;
    struct strmap ids;          /* id -> entry */
    hs_database_t *db[SLOTS][2];    /* per slot and enum rule_view; NULL: no rule */
    hs_scratch_t *scratch;      /* fits every db (the loop scans one at a time) */
    unsigned reads[SLOTS][2];   /* READ_* of the enabled rules in db[s][v] */
    struct entry **always;      /* PCRE2 rules without a prefilter: run on every text */
    size_t nalways;
    unsigned always_reads;
    pcre2_match_context *mctx;  /* the PCRE2 limits, when there is a PCRE2 rule */
    uint64_t version;
};

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    free(e->r.name);
    free(e->r.category);
    free(e->r.reason);
    free(e->r.keywords);
    free(e->r.regex);
    free(e->r.and_keywords);
    free(e->r.and_regex);
    free(e->r.origin);
    for (char **room = e->r.exempt_rooms; room && *room; room++)
        free(*room);
    free(e->r.exempt_rooms);
    pcre2_match_data_free(e->md);
    pcre2_code_free(e->code);
    free(e);
}

static struct ruleset *set_new(void)
{
    struct ruleset *set = xcalloc(1, sizeof *set);
    strmap_init(&set->ids);
    return set;
}

static void set_free(struct ruleset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        entry_free(set->entries[i]);
    free(set->entries);
    strmap_cleanup(&set->ids);
    hs_free_scratch(set->scratch);
    for (int s = 0; s < SLOTS; s++)
        for (int v = 0; v < 2; v++)
            hs_free_database(set->db[s][v]);
    free(set->always);
    pcre2_match_context_free(set->mctx);
    free(set);
}

static void set_append(struct ruleset *set, struct entry *e)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->entries = xrealloc(set->entries, set->cap * sizeof *set->entries);
    }
    e->r.order = (unsigned)set->n;
    set->entries[set->n++] = e;
    strmap_put(&set->ids, e->r.id, e);
}

/* ---- reading a rule's keys (packs and dashboard alike) ---- */

struct parser {
    struct ruleset *set;
    const char *file;           /* the pack; NULL: a dashboard rule */
    const char *origin;         /* the pack's path under the rules directory */
    char *err;                  /* dashboard check: the first error, for people */
    size_t errcap;
    unsigned pack_langs;
    bool has_sections;          /* a section was read: [pack] must come first */
    bool is_bad_rule;           /* the current rule had an error */
    struct entry *cur;          /* the rule being read, NULL in [pack] */
    unsigned given;             /* 1 << KEY_* read for cur */
    bool failed;
};

/* One error: into err for people when given (the first one only), else
 * on stderr with where it is. id is NULL outside a rule. */
static void vreport(const char *file, int line, const char *id, char *err, size_t errcap,
                    const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (err && errcap) {
        if (!err[0])
            snprintf(err, errcap, "%s", msg);
    } else if (file && id) {
        fprintf(stderr, "salon: %s:%d: rule %s: %s\n", file, line, id, msg);
    } else if (file) {
        fprintf(stderr, "salon: %s:%d: %s\n", file, line, msg);
    } else {
        fprintf(stderr, "salon: dashboard rule %s: %s\n", id ? id : "(no id)", msg);
    }
}

__attribute__((format(printf, 3, 4)))
static void fail(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(p->file, line, p->cur ? p->cur->r.id : NULL, p->err, p->errcap, fmt, ap);
    va_end(ap);
    p->failed = true;
    p->is_bad_rule = p->cur != NULL;
}

__attribute__((format(printf, 2, 3)))
static void entry_fail(const struct entry *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(e->line ? e->r.origin : NULL, e->line, e->r.id, NULL, 0, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

typedef bool item_fn(struct parser *p, int line, const char *key, const char *item,
                     void *ud);

/* Calls fn on each trimmed item of a comma list; an empty item is an error. */
static bool each_item(struct parser *p, int line, const char *key, const char *value,
                      item_fn *fn, void *ud)
{
    char *copy = xstrdup(value), *rest = copy;
    bool ok = true;
    for (;;) {
        char *comma = strchr(rest, ',');
        if (comma)
            *comma = '\0';
        char *item = trim(rest);
        if (!*item) {
            fail(p, line, "%s: empty item in the list", key);
            ok = false;
        } else if (!fn(p, line, key, item, ud)) {
            ok = false;
        }
        if (!comma)
            break;
        rest = comma + 1;
    }
    free(copy);
    return ok;
}

static bool one_name(struct parser *p, int line, const char *key, const char *value,
                     const char *const *names, int *out)
{
    *out = name_index(names, value);
    if (*out < 0) {
        char list[256];
        names_join(names, list, sizeof list);
        fail(p, line, "%s: '%s' is not one of %s", key, value, list);
        return false;
    }
    return true;
}

struct bits {
    const char *const *names;   /* index i is the bit 1 << i */
    unsigned *out;
};

static bool bit_item(struct parser *p, int line, const char *key, const char *item, void *ud)
{
    struct bits *b = ud;
    int i;
    if (!one_name(p, line, key, item, b->names, &i))
        return false;
    *b->out |= 1u << i;
    return true;
}

static bool name_bits(struct parser *p, int line, const char *key, const char *value,
                      const char *const *names, unsigned *out)
{
    struct bits b = {.names = names, .out = out};
    *out = 0;
    return each_item(p, line, key, value, bit_item, &b);
}

static bool room_item(struct parser *p, int line, const char *key, const char *item, void *ud)
{
    size_t *n = ud;
    if (item[0] != '#' || strlen(item) > ROOM_NAME_MAX || strpbrk(item, " \t")) {
        fail(p, line, "%s: '%s' is not a room name", key, item);
        return false;
    }
    struct rule *r = &p->cur->r;
    r->exempt_rooms = xrealloc(r->exempt_rooms, (*n + 2) * sizeof *r->exempt_rooms);
    r->exempt_rooms[(*n)++] = xstrdup(item);
    r->exempt_rooms[*n] = NULL;
    return true;
}

/* "10s", "10m", "2h". */
static bool parse_duration(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n < 2)
        return false;
    char digits[32];
    if (n - 1 >= sizeof digits)
        return false;
    memcpy(digits, s, n - 1);
    digits[n - 1] = '\0';
    long v;
    if (!ini_long(digits, 1, 24 * 3600, &v))
        return false;
    char u = s[n - 1];
    int64_t unit = u == 's' ? 1000 : u == 'm' ? 60 * 1000 : u == 'h' ? 3600 * 1000 : 0;
    *ms = v * unit;
    return unit && *ms <= RULES_MUTE_MAX_MS;
}

static bool set_text(struct parser *p, int line, const char *key, const char *value,
                     size_t max, char **out)
{
    if (!*value || strlen(value) > max) {
        fail(p, line, "%s: must hold 1 to %zu bytes", key, max);
        return false;
    }
    *out = xstrdup(value);
    return true;
}

static bool set_key(struct parser *p, int line, enum key k, const char *value)
{
    struct rule *r = &p->cur->r;
    const char *key = key_names[k];
    int i;
    long v;
    switch (k) {
    case KEY_NAME:
        return set_text(p, line, key, value, INI_LINE_MAX, &r->name);
    case KEY_CATEGORY:
        if (report_severity(value) < 0) {
            fail(p, line, "category: '%s' is not a report category", value);
            return false;
        }
        r->category = xstrdup(value);
        return true;
    case KEY_READS:
        return name_bits(p, line, key, value, read_names, &r->reads);
    case KEY_KEYWORDS:
        return set_text(p, line, key, value, INI_LINE_MAX, &r->keywords);
    case KEY_REGEX:
        return set_text(p, line, key, value, INI_LINE_MAX, &r->regex);
    case KEY_AND_KEYWORDS:
        return set_text(p, line, key, value, INI_LINE_MAX, &r->and_keywords);
    case KEY_AND_REGEX:
        return set_text(p, line, key, value, INI_LINE_MAX, &r->and_regex);
    case KEY_VIEW:
        if (!one_name(p, line, key, value, view_names, &i))
            return false;
        r->view = (enum rule_view)i;
        return true;
    case KEY_LANG:
        return name_bits(p, line, key, value, lang_names, &r->langs);
    case KEY_SCOPE:
        if (!one_name(p, line, key, value, scope_names, &i))
            return false;
        r->scope = (enum rule_scope)i;
        return true;
    case KEY_ROOM_CATEGORIES:
        return name_bits(p, line, key, value, room_cat_names, &r->room_categories);
    case KEY_EXEMPT_ROOMS: {
        size_t n = 0;
        return each_item(p, line, key, value, room_item, &n);
    }
    case KEY_ACTION:
        if (!one_name(p, line, key, value, action_names, &i))
            return false;
        r->action = (enum rule_action)i;
        return true;
    case KEY_MUTE:
        if (!parse_duration(value, &r->mute_ms)) {
            fail(p, line, "mute: '%s' is not a duration from 1s to 24h (Ns, Nm or Nh)", value);
            return false;
        }
        return true;
    case KEY_SIGNAL:
        if (!one_name(p, line, key, value, signal_names, &i))
            return false;
        r->signal = (enum rule_signal)i;
        return true;
    case KEY_WEIGHT:
    case KEY_SEVERITY:
        if (!ini_long(value, 0, 100, &v)) {
            fail(p, line, "%s: '%s' is not a number from 0 to 100", key, value);
            return false;
        }
        *(k == KEY_WEIGHT ? &r->weight : &r->severity) = (int)v;
        return true;
    case KEY_REASON:
        return set_text(p, line, key, value, RULES_REASON_MAX, &r->reason);
    case KEY_ENABLED:
        if (strcmp(value, "true") && strcmp(value, "false")) {
            fail(p, line, "enabled: '%s' is not true or false", value);
            return false;
        }
        r->enabled = value[0] == 't';
        return true;
    case KEY_COUNT:
        break;
    }
    return false;
}

/* Reads one key of the current rule; errors go through fail(). */
static void rule_key(struct parser *p, int line, const char *key, const char *value)
{
    int k = name_index(key_names, key);
    if (k < 0) {
        fail(p, line, "unknown key '%s'", key);
    } else if (p->given & 1u << k) {
        fail(p, line, "%s: given twice", key);
    } else {
        p->given |= 1u << k;
        set_key(p, line, (enum key)k, value);
    }
}

/* Why id cannot name a pack rule (is_custom false) or a dashboard rule,
 * or NULL when it can. */
static const char *id_problem(const char *id, bool is_custom)
{
    size_t n = strlen(id);
    bool has_prefix = strncmp(id, CUSTOM_PREFIX, strlen(CUSTOM_PREFIX)) == 0;
    if (n == 0 || n >= RULE_ID_MAX || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return "an id holds 1 to 63 of a-z 0-9 . _ -";
    if (has_prefix != is_custom)
        return is_custom ? "a dashboard rule's id starts with \"" CUSTOM_PREFIX "\""
                         : "ids starting with \"" CUSTOM_PREFIX "\" are kept for the dashboard";
    return NULL;
}

/* Checks id and starts its entry (kept in p->cur even when refused, so that
 * the keys that follow are still checked and reported). */
static void rule_begin(struct parser *p, const char *id, int line, bool is_custom)
{
    struct entry *e = xcalloc(1, sizeof *e);
    snprintf(e->r.id, sizeof e->r.id, "%s", id);
    e->r.origin = xstrdup(p->origin ? p->origin : "dashboard");
    e->r.enabled = true;
    e->line = line;
    p->cur = e;
    p->given = 0;
    p->is_bad_rule = false;
    const char *problem = id_problem(id, is_custom);
    if (problem)
        fail(p, line, "%s", problem);
    else if (strmap_get(&p->set->ids, id))
        fail(p, line, "duplicate id (also in %s)",
             ((struct entry *)strmap_get(&p->set->ids, id))->r.origin);
}

static bool needs_reason(enum rule_action a)
{
    return a == RULE_WARN || a == RULE_MUTE || a == RULE_HOLD || a == RULE_BLOCK;
}

/* Checks what only the whole rule shows, fills in the defaults and adds it. */
static void rule_end(struct parser *p)
{
    struct entry *e = p->cur;
    struct rule *r = &e->r;
    bool ok = !p->is_bad_rule;
    static const enum key required[] = {KEY_CATEGORY, KEY_READS, KEY_ACTION};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!(p->given & 1u << required[i])) {
            fail(p, e->line, "missing required key '%s'", key_names[required[i]]);
            ok = false;
        }
    bool has_keywords = p->given & 1u << KEY_KEYWORDS, has_regex = p->given & 1u << KEY_REGEX;
    if (has_keywords == has_regex) {
        fail(p, e->line, "exactly one of 'keywords' and 'regex' is required");
        ok = false;
    }
    if (r->and_keywords && r->and_regex) {
        fail(p, e->line, "at most one of 'and_keywords' and 'and_regex'");
        ok = false;
    }
    if (needs_reason(r->action) && !r->reason) {
        fail(p, e->line, "action %s needs a 'reason' for the sender", action_names[r->action]);
        ok = false;
    }
    if ((r->action == RULE_MUTE) != (r->mute_ms > 0)) {
        fail(p, e->line, "'mute' goes with action = mute, and only with it");
        ok = false;
    }
    if ((r->signal != SIGNAL_NONE) != (r->weight > 0)) {
        fail(p, e->line, "a signal needs a weight above 0, and a weight needs a signal");
        ok = false;
    }
    if (!ok) {
        entry_free(e);
        p->cur = NULL;
        return;
    }
    if (!r->name)
        r->name = xstrdup(r->id);
    if (!(p->given & 1u << KEY_SEVERITY))
        r->severity = report_severity(r->category);
    if (!(p->given & 1u << KEY_VIEW))
        r->view = has_regex ? VIEW_PLAIN : VIEW_FOLDED;
    if (!r->langs)
        r->langs = p->pack_langs;
    e->is_default_enabled = r->enabled;
    set_append(p->set, e);
    p->cur = NULL;
}

static void begin_section_rule(struct parser *p, const char *id, int line)
{
    char copy[INI_LINE_MAX];
    snprintf(copy, sizeof copy, "%s", id);
    rule_begin(p, trim(copy), line, false);
}

static bool pack_entry(void *ud, const char *section, const char *key, const char *value,
                       int line)
{
    struct parser *p = ud;
    if (!key) {
        if (p->cur)
            rule_end(p);
        bool is_pack = strcmp(section, "pack") == 0;
        if (is_pack && p->has_sections)
            fail(p, line, "[pack] must be the file's first section, once");
        else if (!is_pack && strncmp(section, "rule ", 5) != 0)
            fail(p, line, "unknown section [%s]: [pack] or [rule ID]", section);
        else if (!is_pack)
            begin_section_rule(p, section + 5, line);
        p->has_sections = true;
        return true;
    }
    if (strcmp(section, "pack") == 0) {
        if (strcmp(key, "lang") == 0)
            name_bits(p, line, key, value, lang_names, &p->pack_langs);
        else if (strcmp(key, "description") != 0)
            fail(p, line, "[pack]: unknown key '%s' (lang, description)", key);
        return true;
    }
    if (p->cur)
        rule_key(p, line, key, value);
    return true;
}

/* Reads one pack into set. Errors are reported here; returns false when
 * there was one. The callback reports its own errors with the rule id and
 * returns true, so ini_read adds only what it finds itself (bad lines). */
static bool load_pack(struct ruleset *set, const char *path, const char *origin)
{
    struct parser p = {.set = set, .file = path, .origin = origin,
                       .pack_langs = RULE_LANG_FR | RULE_LANG_EN};
    bool ok = ini_read(path, pack_entry, &p);
    if (p.cur)
        rule_end(&p);
    return ok && !p.failed;
}

/* ---- the rules directory ---- */

struct paths {
    char **v;
    size_t n, cap;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static bool collect(const char *dir, int depth, struct paths *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "salon: cannot read the rules directory %s: %s\n", dir, strerror(errno));
        return false;
    }
    bool ok = true;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = xmalloc(len);
        snprintf(path, len, "%s/%s", dir, de->d_name);
        struct stat sb;
        bool is_known = stat(path, &sb) == 0;
        if (is_known && S_ISDIR(sb.st_mode) && depth < RULES_DIR_DEPTH) {
            ok = collect(path, depth + 1, out) && ok;
        } else if (is_known && S_ISREG(sb.st_mode) && has_suffix(path, ".rules")) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 16;
                out->v = xrealloc(out->v, out->cap * sizeof *out->v);
            }
            out->v[out->n++] = path;
            continue;
        }
        free(path);
    }
    closedir(d);
    return ok;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool load_packs(struct ruleset *set, const char *dir)
{
    if (!dir || !*dir)
        return true;
    struct paths paths = {0};
    bool ok = collect(dir, 0, &paths);
    if (paths.n)
        qsort(paths.v, paths.n, sizeof *paths.v, path_cmp);
    /* A rule's origin names its pack under the directory ("fr/x.rules"):
     * staff see which file, not the server's layout. */
    size_t skip = strlen(dir);
    for (size_t i = 0; i < paths.n; i++) {
        const char *origin = paths.v[i] + skip;
        origin += *origin == '/';
        ok = load_pack(set, paths.v[i], origin) && ok;
        free(paths.v[i]);
    }
    free(paths.v);
    return ok;
}

/* ---- dashboard changes ---- */

/* Reads a dashboard rule {"id": ..., "keys": {k: v}} into set. With err,
 * the first error goes there for people instead of stderr. */
static bool load_added(struct ruleset *set, const json_t *rule, char *err, size_t errcap)
{
    struct parser p = {.set = set, .err = err, .errcap = errcap,
                       .pack_langs = RULE_LANG_FR | RULE_LANG_EN};
    const char *id = json_string_value(json_object_get(rule, "id"));
    json_t *keys = json_object_get(rule, "keys");
    if (!id || !json_is_object(keys)) {
        fail(&p, 0, "a stored rule is not {\"id\": ..., \"keys\": {...}}");
        return false;
    }
    rule_begin(&p, id, 0, true);
    const char *key;
    json_t *value;
    json_object_foreach(keys, key, value) {
        if (!json_is_string(value))
            fail(&p, 0, "%s: the value must be a string", key);
        else
            rule_key(&p, 0, key, json_string_value(value));
    }
    rule_end(&p);
    return !p.failed;
}

/* Applies {"disabled": [...], "enabled": [...], "added": [...]} to set.
 * A stored rule that no longer loads (a category renamed since) is left
 * out with an error rather than stopping the server: it was checked when
 * it was added, and only a running dashboard can fix or remove it. */
static void apply_overrides(struct ruleset *set, const json_t *ov)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ov, "added"), i, v) {
        if (!load_added(set, v, NULL, 0))
            log_error("rules: a dashboard rule no longer loads (above); it is left out");
    }
    static const char *const lists[] = {"disabled", "enabled"};
    for (int l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(ov, lists[l]), i, v) {
            const char *id = json_string_value(v);
            struct entry *e = id ? strmap_get(&set->ids, id) : NULL;
            if (e)
                e->r.enabled = l == 1;
            else
                log_warn("rules: the dashboard %s %s, which no pack has any more", lists[l],
                         id ? id : "(not a string)");
        }
    }
}

/* ---- patterns ---- */

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* What a space and a '*' in a keyword stand for: any separator (or none),
 * any letters or digits (or none). */
#define KW_SEPARATOR "[^a-z0-9]*"
#define KW_WILDCARD "[a-z0-9]*"

static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Appends one normalised piece of a keyword: a repeated letter matches any
 * run of it (the normaliser leaves runs of two: "whatsapp" must match
 * "whatsap" and "whatsappp"), a space any separator or none ("a son insu"
 * matches "asoninsu", "a-son-insu"), anything else literally. */
static void emit_piece(struct sbuf *b, const char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        size_t run = 1;
        while (s[i + run] == s[i])
            run++;
        char tmp[8];
        if (c == ' ') {
            sb_puts(b, KW_SEPARATOR);
        } else if (c >= 'a' && c <= 'z') {
            snprintf(tmp, sizeof tmp, run > 1 ? "%c+" : "%c", c);
            sb_puts(b, tmp);
        } else if (c >= '0' && c <= '9') {
            sb_put(b, s + i, run);
        } else {
            for (size_t k = 0; k < run; k++) {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                sb_puts(b, tmp);
            }
        }
        i += run;
    }
}

/* Turns one keyword into a regular expression on the given view. Each
 * piece between '*' is normalised alone (normalising "s*x" whole would
 * drop the '*' between two letters), and the blanks the normaliser trims
 * off a piece's ends are put back as separators ("achat* de"). \b goes on
 * an end that is a letter or digit, so the keyword is a whole word unless
 * it starts or ends with '*'. Returns false when nothing is left to match. */
static bool keyword_regex(const char *kw, enum rule_view view, struct sbuf *b)
{
    struct norm_text t;
    char *copy = xstrdup(kw), *rest = copy;
    bool has_text = false;
    unsigned char last = 0;
    for (bool is_first = true;; is_first = false) {
        char *star = strchr(rest, '*');
        if (star)
            *star = '\0';
        size_t raw = strlen(rest);
        normalize_text(rest, raw, &t);
        const char *piece = view == VIEW_PLAIN ? t.plain : t.folded;
        size_t n = strlen(piece);
        if (is_first && n && is_word_byte((unsigned char)piece[0]))
            sb_puts(b, "\\b");
        if (!is_first && raw && (rest[0] == ' ' || rest[0] == '\t'))
            sb_puts(b, KW_SEPARATOR);
        emit_piece(b, piece);
        if (star && raw && (rest[raw - 1] == ' ' || rest[raw - 1] == '\t'))
            sb_puts(b, KW_SEPARATOR);
        has_text = has_text || n;
        last = n ? (unsigned char)piece[n - 1] : 0;
        if (!star)
            break;
        sb_puts(b, KW_WILDCARD);
        rest = star + 1;
    }
    if (is_word_byte(last))
        sb_puts(b, "\\b");
    free(copy);
    return has_text;
}

/* Checks expr with Vectorscan's parser alone (far cheaper than compiling).
 * Returns 1 when Vectorscan takes it, 0 when it uses a construct Vectorscan
 * does not support (back-references, look-around: PCRE2 may), -1 when it
 * is wrong (err says why). */
static int hs_check(const char *expr, char *err, size_t errcap)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *ce = NULL;
    if (hs_expression_info(expr, RULES_HS_FLAGS, &info, &ce) != HS_SUCCESS) {
        bool is_unsupported = strstr(ce->message, "unsupported") ||
                              strstr(ce->message, "not supported");
        snprintf(err, errcap, "%s", ce->message);
        hs_free_compile_error(ce);
        return is_unsupported ? 0 : -1;
    }
    /* A pattern that matches nothing at all would match every text. */
    bool is_empty = info->min_width == 0;
    free(info);
    if (is_empty) {
        snprintf(err, errcap, "it matches an empty text");
        return -1;
    }
    return 1;
}

/* Byte mode (the views are ASCII but for letters with no Latin look-alike),
 * JIT when the machine has it. expr is framed (pattern.h). Returns NULL
 * with err set on failure. */
static pcre2_code *pcre_fallback(const char *expr, char *err, size_t errcap)
{
    int code_err;
    PCRE2_SIZE offset;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)expr, PCRE2_ZERO_TERMINATED,
                                     PCRE2_CASELESS | PCRE2_DOTALL, &code_err, &offset, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        snprintf(err, errcap, "%s at offset %zu", (const char *)msg, (size_t)offset);
        return NULL;
    }
    /* Without JIT the interpreter runs it, under the same limits. */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    char empty[PATTERN_FRAME_EXTRA];
    size_t empty_len = pattern_frame_text("", 0, empty);
    int rc = pcre2_match(code, (PCRE2_SPTR)empty, empty_len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0) {
        snprintf(err, errcap, "it matches an empty text");
        pcre2_code_free(code);
        return NULL;
    }
    return code;
}

/* All the keywords of a rule as one alternation: one expression per rule
 * keeps the database small and the match id the rule's index. */
static bool keywords_expr(const char *list, enum rule_view view, char **expr, char *err,
                          size_t errcap)
{
    struct sbuf b = {0};
    char *copy = xstrdup(list), *rest = copy;
    bool ok = true;
    sb_puts(&b, "(?:");
    for (bool is_first = true; ok; is_first = false) {
        char *comma = strchr(rest, ',');
        if (comma)
            *comma = '\0';
        char *kw = trim(rest);
        if (!is_first)
            sb_puts(&b, "|");
        if (!keyword_regex(kw, view, &b)) {
            snprintf(err, errcap, "'%s' leaves nothing to match once normalised", kw);
            ok = false;
        }
        if (!comma)
            break;
        rest = comma + 1;
    }
    sb_puts(&b, ")");
    free(copy);
    if (ok && hs_check(b.s, err, errcap) <= 0)
        ok = false;
    if (!ok) {
        free(b.s);
        return false;
    }
    *expr = b.s;
    return true;
}

/* Prepares one rule's pattern for framed text (pattern.h): its expression
 * in *expr (the caller frees it), for Vectorscan, or as the prefilter of
 * its PCRE2 fallback in *code. The pattern is checked as written, so that
 * errors speak of what its author wrote. Returns false with err set when
 * the pattern cannot load. */
static bool prepare(const char *keywords, const char *regex, enum rule_view view, char **expr,
                    pcre2_code **code, char *err, size_t errcap)
{
    *expr = NULL;
    *code = NULL;
    char *written = NULL;
    if (keywords) {
        if (!keywords_expr(keywords, view, &written, err, errcap))
            return false;
        *expr = pattern_frame(written);
        free(written);
        return true;
    }
    if (strlen(regex) > RULES_REGEX_MAX) {
        snprintf(err, errcap, "longer than %d bytes (the guard against expensive patterns)",
                 RULES_REGEX_MAX);
        return false;
    }
    int rc = hs_check(regex, err, errcap);
    if (rc < 0)
        return false;
    *expr = pattern_frame(regex);
    if (rc == 0 && !(*code = pcre_fallback(*expr, err, errcap))) {
        free(*expr);
        *expr = NULL;
        return false;
    }
    return true;
}

struct exprs {
    const char **expr;
    unsigned *flags, *ids;
    size_t n, cap;
};

static void exprs_add(struct exprs *x, const char *expr, unsigned flags, unsigned id)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        x->expr = xrealloc(x->expr, x->cap * sizeof *x->expr);
        x->flags = xrealloc(x->flags, x->cap * sizeof *x->flags);
        x->ids = xrealloc(x->ids, x->cap * sizeof *x->ids);
    }
    x->expr[x->n] = expr;
    x->flags[x->n] = flags;
    x->ids[x->n++] = id;
}

static void exprs_free(struct exprs *x)
{
    for (size_t i = 0; i < x->n; i++)
        free((char *)x->expr[i]);
    free(x->expr);
    free(x->flags);
    free(x->ids);
}

/* ---- the compiled-database cache ----
 * Compiling the shipped packs takes a good part of a second (seconds on a
 * loaded machine), at every start. A compiled database only depends on
 * what went into hs_compile_multi, so it is kept in the cache directory
 * under a BLAKE2b of exactly that (and the Vectorscan version) and read
 * back with hs_deserialize_database, which checks the version and the CPU
 * features itself. Any cache problem falls back to compiling: the cache can
 * make a start faster, never different. Written to a temporary name then
 * renamed, so concurrent servers sharing a cache never read half a file. */
static char *cache_dir;         /* set once before the first compile; NULL: none */

void rules_set_cache_dir(const char *dir)
{
    free(cache_dir);
    cache_dir = dir && *dir ? xstrdup(dir) : NULL;
}

static void cache_path(const struct exprs *x, char *out, size_t cap)
{
    crypto_generichash_state h;
    unsigned char digest[24];
    crypto_generichash_init(&h, NULL, 0, sizeof digest);
    const char *version = hs_version();
    crypto_generichash_update(&h, (const unsigned char *)version, strlen(version) + 1);
    for (size_t i = 0; i < x->n; i++) {
        crypto_generichash_update(&h, (const unsigned char *)x->expr[i], strlen(x->expr[i]) + 1);
        crypto_generichash_update(&h, (const unsigned char *)&x->flags[i], sizeof x->flags[i]);
        crypto_generichash_update(&h, (const unsigned char *)&x->ids[i], sizeof x->ids[i]);
    }
    crypto_generichash_final(&h, digest, sizeof digest);
    char hex[2 * sizeof digest + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    snprintf(out, cap, "%s/%s.hsdb", cache_dir, hex);
}

static hs_database_t *cache_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    hs_database_t *db = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size < (64 << 20)) {
        char *bytes = xmalloc((size_t)st.st_size);
        if (fread(bytes, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
            hs_deserialize_database(bytes, (size_t)st.st_size, &db) != HS_SUCCESS)
            db = NULL;
        free(bytes);
    }
    fclose(f);
    return db;
}

static void cache_save(const char *path, const hs_database_t *db)
{
    char *bytes = NULL;
    size_t len = 0;
    if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
        return;
    mkdir(cache_dir, 0700);
    char tmp[PATH_MAX + 48];
    snprintf(tmp, sizeof tmp, "%s.%d.%lx", path, (int)getpid(), (unsigned long)pthread_self());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(bytes, 1, len, f) == len;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
    free(bytes);
}

static bool build_db(struct ruleset *set, enum slot sl, enum rule_view v, const struct exprs *x)
{
    hs_database_t **db = &set->db[sl][v];
    char path[PATH_MAX] = "";
    if (cache_dir) {
        cache_path(x, path, sizeof path);
        *db = cache_load(path);
    }
    if (!*db) {
        hs_compile_error_t *ce = NULL;
        if (hs_compile_multi(x->expr, x->flags, x->ids, (unsigned)x->n, HS_MODE_BLOCK, NULL,
                             db, &ce) != HS_SUCCESS) {
            if (ce->expression >= 0) {
                unsigned id = x->ids[ce->expression];
                entry_fail(set->entries[id < PART_ID_BASE ? id : (id - PART_ID_BASE) / 2],
                           "%s", ce->message);
            } else {
                fprintf(stderr, "salon: rules: the %s view for %s texts does not compile: %s\n",
                        view_names[v], slot_names[sl], ce->message);
            }
            hs_free_compile_error(ce);
            return false;
        }
        if (path[0])
            cache_save(path, *db);
    }
    /* One scratch grows to fit each database in turn. */
    if (hs_alloc_scratch(*db, &set->scratch) != HS_SUCCESS) {
        fprintf(stderr, "salon: rules: no memory for the scratch space\n");
        return false;
    }
    return true;
}

/* Adds one expression of rule e (a copy of expr, with the given flags and
 * id) to the database of e's view in every slot whose texts e reads. */
static void add_expr(struct ruleset *set, struct exprs x[SLOTS][2], const struct entry *e,
                     const char *expr, unsigned flags, unsigned id)
{
    for (int sl = 0; sl < SLOTS; sl++) {
        if (!(e->r.reads & slot_reads[sl]))
            continue;
        exprs_add(&x[sl][e->r.view], xstrdup(expr), flags, id);
        if (e->r.enabled)
            set->reads[sl][e->r.view] |= e->r.reads & slot_reads[sl];
    }
}

/* Whether Vectorscan can build a prefilter for a PCRE2 pattern: an
 * approximation (a back-reference read as its group, a look-around
 * dropped) that matches at least whatever PCRE2 would. Compiled alone, so
 * that a pattern accepted here cannot make a whole set fail later. */
static bool has_prefilter(const char *expr)
{
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    bool ok = hs_compile(expr, RULES_HS_FLAGS | HS_FLAG_PREFILTER, HS_MODE_BLOCK, NULL, &db,
                         &ce) == HS_SUCCESS;
    hs_free_compile_error(ce);
    hs_free_database(db);
    return ok;
}

/* With a prefilter, PCRE2 runs only on the texts the prefilter matched,
 * which are few. A pattern whose approximation would match an empty text
 * (look-arounds alone) has none: it runs on every text it reads, so packs
 * anchor such patterns with '^' to keep the cost linear. */
static void add_pcre(struct ruleset *set, struct exprs x[SLOTS][2], struct entry *e,
                     unsigned id, const char *expr)
{
    e->md = pcre2_match_data_create_from_pattern(e->code, NULL);
    if (has_prefilter(expr)) {
        e->is_prefiltered = true;
        add_expr(set, x, e, expr, RULES_HS_FLAGS | HS_FLAG_PREFILTER, id);
    } else {
        set->always = xrealloc(set->always, (set->nalways + 1) * sizeof *set->always);
        set->always[set->nalways++] = e;
        if (e->r.enabled)
            set->always_reads |= e->r.reads;
    }
}

/* A rule with an and_ part: both parts as expressions of their own (ids
 * from PART_ID_BASE), and the rule matches once both were seen in the same
 * scan (on_match). Cheaper than Vectorscan's logical combinations, whose
 * parts must report every match (and may not end with \b). */
static bool add_combination(struct ruleset *set, struct exprs x[SLOTS][2], struct entry *e,
                            unsigned id, char *expr)
{
    char *and_expr = NULL, err[512] = "";
    pcre2_code *code = NULL;
    if (!expr || !prepare(e->r.and_keywords, e->r.and_regex, e->r.view, &and_expr, &code, err,
                          sizeof err) || code) {
        pcre2_code_free(code);
        pcre2_code_free(e->code);
        e->code = NULL;
        entry_fail(e, "%s", err[0] ? err : "both parts of a combined rule must be Vectorscan "
                                            "patterns (no back-references or look-arounds)");
        free(expr);
        free(and_expr);
        return false;
    }
    unsigned base = PART_ID_BASE + 2 * id;
    add_expr(set, x, e, expr, RULES_HS_FLAGS, base);
    add_expr(set, x, e, and_expr, RULES_HS_FLAGS, base + 1);
    free(expr);
    free(and_expr);
    return true;
}

/* Compiles every rule of set, the disabled ones too (so that switching one
 * on from the dashboard cannot fail); only the enabled ones count in the
 * per-database masks, and the match callback skips the others. */
static bool compile_set(struct ruleset *set)
{
    struct exprs x[SLOTS][2] = {{{0}}};
    bool ok = true, has_pcre = false;
    assert(set->n < PART_ID_BASE);
    for (size_t i = 0; i < set->n; i++) {
        struct entry *e = set->entries[i];
        char *expr, err[512] = "";
        if (!prepare(e->r.keywords, e->r.regex, e->r.view, &expr, &e->code, err, sizeof err)) {
            entry_fail(e, "%s: %s", e->r.keywords ? "keywords" : "regex", err);
            ok = false;
        } else if (e->r.and_keywords || e->r.and_regex) {
            ok = add_combination(set, x, e, (unsigned)i, expr) && ok;
        } else {
            if (e->code) {
                add_pcre(set, x, e, (unsigned)i, expr);
                has_pcre = true;
            } else {
                add_expr(set, x, e, expr, RULES_HS_FLAGS, (unsigned)i);
            }
            free(expr);
        }
    }
    for (int sl = 0; sl < SLOTS; sl++)
        for (int v = 0; v < 2; v++)
            if (ok && x[sl][v].n)
                ok = build_db(set, (enum slot)sl, (enum rule_view)v, &x[sl][v]);
    if (ok && has_pcre) {
        set->mctx = pcre2_match_context_create(NULL);
        pcre2_set_match_limit(set->mctx, RULES_PCRE_MATCH_LIMIT);
        pcre2_set_depth_limit(set->mctx, RULES_PCRE_DEPTH_LIMIT);
    }
    for (int sl = 0; sl < SLOTS; sl++)
        for (int v = 0; v < 2; v++)
            exprs_free(&x[sl][v]);
    return ok;
}

/* ---- matching (loop thread) ---- */

struct scan {
    uint64_t serial;            /* numbers the scans, for combined rules */
    const struct ruleset *set;
    const struct rule_context *ctx;
    char text[2][NORM_MAX + PATTERN_FRAME_EXTRA];   /* per enum rule_view, framed */
    size_t len[2];
    struct rule_hits *out;
};

static bool applies(const struct rule *r, const struct rule_context *ctx)
{
    if (!r->enabled || !(r->reads & ctx->read))
        return false;
    bool is_room_text = ctx->read & (READ_ROOM | READ_ROOM_NAME | READ_TOPIC);
    if ((r->scope == SCOPE_ROOMS && !is_room_text) ||
        (r->scope == SCOPE_PRIVATE && ctx->read != READ_PRIVATE))
        return false;
    if (is_room_text && r->room_categories && !(r->room_categories & 1u << ctx->room_category))
        return false;
    for (char **room = r->exempt_rooms; room && *room && ctx->room; room++)
        if (casemap_equal(*room, ctx->room))
            return false;
    return true;
}

/* The order in which the scan reports rules says nothing: between two
 * equally strong rules (the same text matched "fr.x" and "en.x"), the one
 * loaded first is taken, whatever the engine reports first. */
static bool is_stronger(const struct rule *a, const struct rule *b)
{
    if (a->action != b->action)
        return a->action > b->action;
    if (a->severity != b->severity)
        return a->severity > b->severity;
    return a->order < b->order;
}

static void add_hit(struct rule_hits *out, const struct rule *r)
{
    for (unsigned i = 0; i < out->n; i++)
        if (out->hit[i] == r)
            return;
    if (out->n < RULE_HITS_MAX)
        out->hit[out->n++] = r;
    if (r->action != RULE_NONE && (!out->strongest || is_stronger(r, out->strongest)))
        out->strongest = r;
    if (r->signal != SIGNAL_NONE) {
        out->signals |= 1u << r->signal;
        if (r->weight > out->weight[r->signal])
            out->weight[r->signal] = r->weight;
    }
}

/* Runs a PCRE2 rule on the whole text of its view. A pattern that reaches
 * its limit counts as no match (logged once per rule and set, since a
 * sender can repeat the text that caused it). */
static bool pcre_matches(const struct scan *s, struct entry *e)
{
    enum rule_view v = e->r.view;
    int rc = pcre2_match(e->code, (PCRE2_SPTR)s->text[v], s->len[v], 0, 0, e->md, s->set->mctx);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && !e->is_limit_logged) {
        log_warn("rules: %s stopped at its PCRE2 limit (%d): counted as no match", e->r.id, rc);
        e->is_limit_logged = true;
    }
    return rc >= 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to,
                    unsigned flags, void *ud)
{
    (void)from;
    (void)to;
    (void)flags;
    struct scan *s = ud;
    struct entry *e;
    if (id >= PART_ID_BASE) {
        e = s->set->entries[(id - PART_ID_BASE) / 2];
        if (e->parts_scan != s->serial) {
            e->parts_scan = s->serial;
            e->parts_seen = 0;
        }
        e->parts_seen |= 1u << (id - PART_ID_BASE) % 2;
        if (e->parts_seen != 3)
            return 0;
    } else {
        e = s->set->entries[id];
    }
    if (applies(&e->r, s->ctx) && (!e->is_prefiltered || pcre_matches(s, e)))
        add_hit(s->out, &e->r);
    return 0;
}

static void run_always(const struct scan *s)
{
    for (size_t i = 0; i < s->set->nalways; i++) {
        struct entry *e = s->set->always[i];
        if (applies(&e->r, s->ctx) && pcre_matches(s, e))
            add_hit(s->out, &e->r);
    }
}

/* What a compile reads: copies, so that the worker shares nothing else. */
struct job {
    char *dir;
    char *overrides;            /* JSON text of the dashboard's changes */
    uint64_t version;
};

/* The loop's state. Only `pending`, `is_busy` (under `lock`) and `ready`
 * are shared with the compile worker. */
static struct {
    struct ruleset *running;
    char *dir;
    struct store *store;
    json_t *overrides;          /* {"disabled": [], "enabled": [], "added": []} */
    uint64_t requested;         /* version of the newest set asked for */
    pthread_mutex_t lock;
    pthread_cond_t idle;        /* is_busy went false */
    struct job *pending;        /* the next compile, if any */
    bool is_busy;               /* a worker runs */
} rs = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

/* A finished set, published by the worker until the loop takes it. */
static _Atomic(struct ruleset *) ready;

void rules_match(const struct norm_text *t, const struct rule_context *ctx,
                 struct rule_hits *out)
{
    memset(out, 0, sizeof *out);
    const struct ruleset *set = rs.running;
    if (!set)
        return;
    enum slot sl = ctx->read == READ_ROOM ? SLOT_ROOM
                   : ctx->read == READ_PRIVATE ? SLOT_PRIVATE : SLOT_OTHER;
    bool has_always = set->always_reads & ctx->read;
    /* Static: the loop thread alone matches, and 4 KB is no stack frame. */
    static struct scan s;
    s.serial++;
    s.set = set;
    s.ctx = ctx;
    s.out = out;
    for (int v = 0; v < 2; v++) {
        if (!has_always && !(set->db[sl][v] && (set->reads[sl][v] & ctx->read)))
            continue;
        s.len[v] = v == VIEW_PLAIN ? pattern_frame_text(t->plain, t->plain_len, s.text[v])
                                   : pattern_frame_text(t->folded, t->folded_len, s.text[v]);
        if (!set->db[sl][v] || !(set->reads[sl][v] & ctx->read))
            continue;
        hs_error_t rc = hs_scan(set->db[sl][v], s.text[v], (unsigned)s.len[v], 0,
                                set->scratch, on_match, &s);
        if (rc != HS_SUCCESS)
            log_error("rules: the %s view's scan of %s texts failed (%d)", view_names[v],
                      slot_names[sl], rc);
    }
    if (has_always)
        run_always(&s);
}

/* ---- compiling a new set ---- */

static void job_free(struct job *job)
{
    if (!job)
        return;
    free(job->dir);
    free(job->overrides);
    free(job);
}

static struct job *job_new(void)
{
    struct job *job = xcalloc(1, sizeof *job);
    job->dir = xstrdup(rs.dir);
    job->overrides = json_dumps(rs.overrides, JSON_COMPACT);
    job->version = rs.requested;
    return job;
}

/* Builds a complete set from the packs and the dashboard's changes; runs
 * on the worker, or on the loop in rules_init. NULL when anything fails. */
static struct ruleset *build(const struct job *job)
{
    struct ruleset *set = set_new();
    json_t *ov = json_loads(job->overrides, 0, NULL);
    bool ok = load_packs(set, job->dir);
    apply_overrides(set, ov);
    ok = ok && compile_set(set);
    json_decref(ov);
    if (!ok) {
        set_free(set);
        return NULL;
    }
    set->version = job->version;
    return set;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&rs.lock);
        struct job *job = rs.pending;
        rs.pending = NULL;
        if (!job) {
            rs.is_busy = false;
            pthread_cond_broadcast(&rs.idle);
            pthread_mutex_unlock(&rs.lock);
            return NULL;
        }
        pthread_mutex_unlock(&rs.lock);
        struct ruleset *set = build(job);
        if (set)
            /* A set the loop has not taken yet was never scanned with:
             * freeing it here is safe. */
            set_free(atomic_exchange(&ready, set));
        else
            log_error("rules: version %llu does not compile (errors above); the running "
                      "set stays", (unsigned long long)job->version);
        job_free(job);
    }
}

static void start_worker(void)
{
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, worker, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return;
    log_error("rules: cannot start the compile thread: %s; the running set stays",
              strerror(rc));
    pthread_mutex_lock(&rs.lock);
    job_free(rs.pending);
    rs.pending = NULL;
    rs.is_busy = false;
    pthread_cond_broadcast(&rs.idle);
    pthread_mutex_unlock(&rs.lock);
}

/* Keeps the dashboard's changes and the newest version, so that versions
 * keep growing across restarts. */
static void save_overrides(void)
{
    if (!rs.store)
        return;
    json_t *doc = json_copy(rs.overrides);
    json_object_set_new(doc, "version", json_integer((json_int_t)rs.requested));
    char *text = json_dumps(doc, JSON_COMPACT);
    store_put_record(rs.store, RECORD_KIND, RECORD_KEY, text, 0);
    free(text);
    json_decref(doc);
}

/* Asks for a new set with the current packs and changes. One worker runs
 * at a time: a request made while it compiles replaces any waiting one,
 * and the worker takes it when it is done. */
static void request_compile(void)
{
    rs.requested++;
    save_overrides();
    struct job *job = job_new();
    pthread_mutex_lock(&rs.lock);
    job_free(rs.pending);
    rs.pending = job;
    bool must_start = !rs.is_busy;
    rs.is_busy = true;
    pthread_mutex_unlock(&rs.lock);
    if (must_start)
        start_worker();
}

static void load_record(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)expires_ms;
    json_t **ov = ud;
    if (strcmp(key, RECORD_KEY) != 0)
        return;
    json_decref(*ov);
    *ov = json_loads(value, 0, NULL);
    if (!json_is_object(*ov))
        log_error("rules: the stored dashboard changes are not readable; starting without them");
}

/* The dashboard's changes from storage, with every list present. */
static json_t *load_overrides(struct store *st, uint64_t *version)
{
    json_t *ov = NULL;
    if (st)
        store_load_records(st, RECORD_KIND, clock_wall_ms(), load_record, &ov);
    if (!json_is_object(ov)) {
        json_decref(ov);
        ov = json_object();
    }
    static const char *const lists[] = {"disabled", "enabled", "added"};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        if (!json_is_array(json_object_get(ov, lists[i])))
            json_object_set_new(ov, lists[i], json_array());
    json_int_t v = json_integer_value(json_object_get(ov, "version"));
    *version = v > 0 ? (uint64_t)v : 0;
    json_object_del(ov, "version");
    return ov;
}

int rules_init(const char *dir, struct store *st)
{
    rs.dir = xstrdup(dir ? dir : "");
    rs.store = st;
    rs.overrides = load_overrides(st, &rs.requested);
    rs.requested++;
    save_overrides();
    struct job *job = job_new();
    rs.running = build(job);
    job_free(job);
    if (!rs.running)
        return -1;
    log_info("rules: version %llu, %zu rules", (unsigned long long)rs.running->version,
             rs.running->n);
    return 0;
}

void rules_fini(void)
{
    pthread_mutex_lock(&rs.lock);
    job_free(rs.pending);
    rs.pending = NULL;
    while (rs.is_busy)
        pthread_cond_wait(&rs.idle, &rs.lock);
    pthread_mutex_unlock(&rs.lock);
    set_free(atomic_exchange(&ready, NULL));
    set_free(rs.running);
    rs.running = NULL;
    free(rs.dir);
    rs.dir = NULL;
    json_decref(rs.overrides);
    rs.overrides = NULL;
    rs.store = NULL;
    rs.requested = 0;
}

void rules_reload(void)
{
    request_compile();
}

void rules_poll(void)
{
    if (!atomic_load_explicit(&ready, memory_order_relaxed))
        return;
    struct ruleset *set = atomic_exchange(&ready, NULL);
    set_free(rs.running);
    rs.running = set;
    log_info("rules: version %llu in place, %zu rules", (unsigned long long)set->version,
             set->n);
}

void rules_wait_idle(void)
{
    pthread_mutex_lock(&rs.lock);
    while (rs.is_busy)
        pthread_cond_wait(&rs.idle, &rs.lock);
    pthread_mutex_unlock(&rs.lock);
    rules_poll();
}

uint64_t rules_version(void)
{
    return rs.running ? rs.running->version : 0;
}

uint64_t rules_version_pending(void)
{
    return rs.requested;
}

size_t rules_count(void)
{
    return rs.running ? rs.running->n : 0;
}

const struct rule *rules_at(size_t i)
{
    return rs.running && i < rs.running->n ? &rs.running->entries[i]->r : NULL;
}

const struct rule *rules_find(const char *id)
{
    const struct entry *e = rs.running ? strmap_get(&rs.running->ids, id) : NULL;
    return e ? &e->r : NULL;
}

/* ---- dashboard changes (loop thread) ---- */

/* The index of id in the dashboard's added rules, or -1. */
static ssize_t added_index(const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rs.overrides, "added"), i, v) {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid && strcmp(vid, id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static void list_remove(const char *list, const char *id)
{
    json_t *arr = json_object_get(rs.overrides, list);
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *v = json_string_value(json_array_get(arr, i));
        if (!v || strcmp(v, id) == 0)
            json_array_remove(arr, i);
    }
}

enum sl_err rules_set_enabled(const char *id, bool enabled, char *err, size_t errcap)
{
    const struct entry *e = rs.running ? strmap_get(&rs.running->ids, id) : NULL;
    ssize_t added = added_index(id);
    if (!e && added < 0) {
        snprintf(err, errcap, "No rule has the id %s.", id);
        return SL_ENOTFOUND;
    }
    bool is_on_by_default = true;
    if (e) {
        is_on_by_default = e->is_default_enabled;
    } else {
        json_t *rule = json_array_get(json_object_get(rs.overrides, "added"), (size_t)added);
        const char *v = json_string_value(json_object_get(json_object_get(rule, "keys"),
                                                          "enabled"));
        is_on_by_default = !v || strcmp(v, "false") != 0;
    }
    list_remove("disabled", id);
    list_remove("enabled", id);
    if (enabled != is_on_by_default)
        json_array_append_new(json_object_get(rs.overrides, enabled ? "enabled" : "disabled"),
                              json_string(id));
    request_compile();
    return SL_OK;
}

/* Checks a dashboard rule the way a compile would, alone. */
static bool check_added(const json_t *rule, char *err, size_t errcap)
{
    struct ruleset *set = set_new();
    bool ok = load_added(set, rule, err, errcap);
    if (ok) {
        const struct rule *r = &set->entries[0]->r;
        ok = rules_check_pattern(r->keywords, r->regex, r->view, NULL, NULL, err, errcap);
    }
    set_free(set);
    return ok;
}

enum sl_err rules_add(const char *id, const char *const *keys, const char *const *values,
                      size_t n, char *err, size_t errcap)
{
    if (errcap)
        err[0] = '\0';
    const char *problem = id_problem(id, true);
    if (problem) {
        snprintf(err, errcap, "%s.", problem);
        return SL_EINVAL;
    }
    if (rules_find(id) || added_index(id) >= 0) {
        snprintf(err, errcap, "A rule with the id %s exists.", id);
        return SL_EEXIST;
    }
    json_t *kv = json_object();
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(kv, keys[i]) ||
            json_object_set_new(kv, keys[i], json_string(values[i])) != 0) {
            snprintf(err, errcap, "The key %s is given twice or is not UTF-8.", keys[i]);
            json_decref(kv);
            return SL_EINVAL;
        }
    }
    json_t *rule = json_pack("{s:s, s:o}", "id", id, "keys", kv);
    if (!check_added(rule, err, errcap)) {
        json_decref(rule);
        return SL_EINVAL;
    }
    json_array_append_new(json_object_get(rs.overrides, "added"), rule);
    request_compile();
    return SL_OK;
}

enum sl_err rules_remove(const char *id, char *err, size_t errcap)
{
    if (strncmp(id, CUSTOM_PREFIX, strlen(CUSTOM_PREFIX)) != 0) {
        snprintf(err, errcap, "Only rules added from the dashboard can be removed; "
                              "switch this one off instead.");
        return SL_EPERM;
    }
    ssize_t i = added_index(id);
    if (i < 0) {
        snprintf(err, errcap, "No rule has the id %s.", id);
        return SL_ENOTFOUND;
    }
    json_array_remove(json_object_get(rs.overrides, "added"), (size_t)i);
    list_remove("disabled", id);
    list_remove("enabled", id);
    request_compile();
    return SL_OK;
}

static int on_test_match(unsigned id, unsigned long long from, unsigned long long to,
                         unsigned flags, void *ud)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    *(bool *)ud = true;
    return 1;
}

/* Whether db (or else code) matches view v of text. */
static bool test_match(const hs_database_t *db, const pcre2_code *code, enum rule_view v,
                       const char *text)
{
    struct norm_text *t = xmalloc(sizeof *t);
    char *s = xmalloc(NORM_MAX + PATTERN_FRAME_EXTRA);
    normalize_text(text, strlen(text), t);
    size_t len = v == VIEW_PLAIN ? pattern_frame_text(t->plain, t->plain_len, s)
                                 : pattern_frame_text(t->folded, t->folded_len, s);
    free(t);
    bool matches = false;
    if (db) {
        hs_scratch_t *scratch = NULL;
        if (hs_alloc_scratch(db, &scratch) == HS_SUCCESS)
            hs_scan(db, s, (unsigned)len, 0, scratch, on_test_match, &matches);
        hs_free_scratch(scratch);
        free(s);
        return matches;
    }
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mctx, RULES_PCRE_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, RULES_PCRE_DEPTH_LIMIT);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    matches = pcre2_match(code, (PCRE2_SPTR)s, len, 0, 0, md, mctx) >= 0;
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    free(s);
    return matches;
}

bool rules_check_pattern(const char *keywords, const char *regex, enum rule_view view,
                         const char *text, bool *matches, char *err, size_t errcap)
{
    if (matches)
        *matches = false;
    if (!keywords == !regex) {
        snprintf(err, errcap, "Exactly one of keywords and regex is needed.");
        return false;
    }
    char *expr;
    pcre2_code *code;
    if (!prepare(keywords, regex, view, &expr, &code, err, errcap))
        return false;
    bool ok = true;
    hs_database_t *db = NULL;
    if (!code) {
        /* Some limits only show when the whole automaton is built. */
        hs_compile_error_t *ce = NULL;
        if (hs_compile(expr, RULES_HS_FLAGS, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
            snprintf(err, errcap, "%s", ce->message);
            hs_free_compile_error(ce);
            ok = false;
        }
    }
    if (ok && text && matches)
        *matches = test_match(db, code, view, text);
    hs_free_database(db);
    free(expr);
    pcre2_code_free(code);
    return ok;
}
