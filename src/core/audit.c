#include "core/audit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "store/store.h"

#define HASH_BYTES 32
#define HASH_HEX (HASH_BYTES * 2 + 1)
/* The first entry's prev_hash: 64 zeros. */
static const char GENESIS[HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

#define AUDIT_RECENT 200

struct recent {
    struct store_audit a;
    char actor[64], action[32], target[128], detail[1024], hash[HASH_HEX];
};

static struct store *store;
static struct recent recent[AUDIT_RECENT];
static unsigned nrecent, recent_head;
static int64_t last_seq;
static char last_hash[HASH_HEX];

/* hash = BLAKE2b-256 over the previous hash and every field, each field
 * preceded by its length so that no two different entries hash alike. */
static void entry_hash(const struct store_audit *a, char out[HASH_HEX])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
    char num[64];
    const char *fields[] = {a->prev_hash, NULL, NULL, a->actor, a->action, a->target, a->detail};
    char seq[32], when[32];
    snprintf(seq, sizeof seq, "%" PRId64, a->seq);
    snprintf(when, sizeof when, "%" PRId64, a->time_ms);
    fields[1] = seq;
    fields[2] = when;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t len = strlen(fields[i]);
        int n = snprintf(num, sizeof num, "%zu:", len);
        crypto_generichash_update(&st, (const unsigned char *)num, (size_t)n);
        crypto_generichash_update(&st, (const unsigned char *)fields[i], len);
    }
    unsigned char h[HASH_BYTES];
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, HASH_HEX, h, sizeof h);
}

static void find_last(const struct store_audit *a, void *ud)
{
    (void)ud;
    last_seq = a->seq;
    snprintf(last_hash, sizeof last_hash, "%s", a->hash);
}

void audit_init(struct store *st)
{
    store = st;
    memcpy(last_hash, GENESIS, sizeof last_hash);
    last_seq = 0;
    if (st)
        store_scan_audit(st, find_last, NULL);
}

void audit_log(const char *actor, const char *action, const char *target, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    struct store_audit a = {.seq = last_seq + 1, .time_ms = clock_wall_ms(), .actor = actor,
                            .action = action, .target = target ? target : "",
                            .detail = detail, .prev_hash = last_hash};
    char hash[HASH_HEX];
    entry_hash(&a, hash);
    a.hash = hash;
    if (store) {
        store_append_audit(store, &a);
        /* The head, kept apart, lets verify notice entries cut off the end. */
        char head[96];
        snprintf(head, sizeof head, "%" PRId64 ":%s", a.seq, hash);
        store_put_record(store, "audit", "head", head, 0);
    }
    last_seq = a.seq;
    memcpy(last_hash, hash, sizeof last_hash);
    struct recent *r = &recent[recent_head];
    recent_head = (recent_head + 1) % AUDIT_RECENT;
    if (nrecent < AUDIT_RECENT)
        nrecent++;
    snprintf(r->actor, sizeof r->actor, "%s", actor);
    snprintf(r->action, sizeof r->action, "%s", action);
    snprintf(r->target, sizeof r->target, "%s", a.target);
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    snprintf(r->hash, sizeof r->hash, "%s", hash);
    r->a = (struct store_audit){.seq = a.seq, .time_ms = a.time_ms, .actor = r->actor,
                                .action = r->action, .target = r->target, .detail = r->detail,
                                .hash = r->hash, .prev_hash = ""};
    log_info("audit #%" PRId64 ": %s %s %s", a.seq, actor, action, a.target);
}

struct head {
    char text[96];
};

static void read_head(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)expires_ms;
    if (strcmp(key, "head") == 0)
        snprintf(((struct head *)ud)->text, sizeof ((struct head *)ud)->text, "%s", value);
}

struct verify {
    FILE *out;
    int64_t expect_seq;
    char prev[HASH_HEX];
    bool ok;
    size_t count;
};

static void check_one(const struct store_audit *a, void *ud)
{
    struct verify *v = ud;
    v->count++;
    if (!v->ok)
        return;
    char hash[HASH_HEX];
    entry_hash(a, hash);
    if (a->seq != v->expect_seq) {
        fprintf(v->out, "audit: entry %" PRId64 " found where %" PRId64 " was expected "
                "(an entry was removed or reordered)\n", a->seq, v->expect_seq);
        v->ok = false;
    } else if (strcmp(a->prev_hash, v->prev) != 0) {
        fprintf(v->out, "audit: entry %" PRId64 " does not follow the previous entry's hash\n",
                a->seq);
        v->ok = false;
    } else if (strcmp(hash, a->hash) != 0) {
        fprintf(v->out, "audit: entry %" PRId64 " was modified (its hash does not match)\n",
                a->seq);
        v->ok = false;
    }
    v->expect_seq = a->seq + 1;
    snprintf(v->prev, sizeof v->prev, "%s", a->hash);
}

bool audit_verify(struct store *st, FILE *out)
{
    struct verify v = {.out = out, .expect_seq = 1, .ok = true};
    memcpy(v.prev, GENESIS, sizeof v.prev);
    store_scan_audit(st, check_one, &v);
    struct head head = {""};
    store_load_records(st, "audit", 0, read_head, &head);
    char expect[96] = "";
    if (v.count)
        snprintf(expect, sizeof expect, "%" PRId64 ":%s", v.expect_seq - 1, v.prev);
    if (v.ok && strcmp(head.text, expect) != 0) {
        fprintf(out, "audit: the log ends at entry %" PRId64 " but its head says %s "
                "(entries were removed from the end)\n", v.expect_seq - 1,
                head.text[0] ? head.text : "nothing");
        v.ok = false;
    }
    if (v.ok)
        fprintf(out, "audit: %zu entries, chain intact\n", v.count);
    return v.ok;
}

int64_t audit_last_seq(void)
{
    return last_seq;
}

void audit_recent(audit_entry_fn *fn, void *ud)
{
    for (unsigned i = 0; i < nrecent; i++)
        fn(&recent[(recent_head + AUDIT_RECENT - 1 - i) % AUDIT_RECENT].a, ud);
}
