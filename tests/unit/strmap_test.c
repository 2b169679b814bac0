/* Tests for src/lib/strmap: the case-insensitive (CASEMAPPING=ascii) hash map
 * behind nick and room lookups. Keys are borrowed, so every test keeps its
 * key strings alive for as long as they are in the map. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/casemap.h"
#include "lib/strmap.h"

/* Counts how many live values an iteration visits, checking each once. */
static size_t count_iter(const struct strmap *m, int *seen, size_t nseen, int *base)
{
    size_t n = 0, pos = 0;
    void *v;
    while ((v = strmap_next(m, &pos)) != NULL) {
        if (seen) {
            size_t i = (size_t)((int *)v - base);
            cr_assert_lt(i, nseen, "iteration returned a foreign value");
            cr_assert_eq(seen[i], 0, "value %zu visited twice", i);
            seen[i] = 1;
        }
        n++;
    }
    return n;
}

Test(strmap, empty_map_answers_nothing)
{
    struct strmap m;
    strmap_init(&m);
    size_t pos = 0;
    cr_assert_null(strmap_get(&m, "x"));
    cr_assert_null(strmap_del(&m, "x"));
    cr_assert_null(strmap_next(&m, &pos));
    cr_assert_eq(m.len, 0);
    strmap_cleanup(&m);
    strmap_cleanup(&m);     /* twice is harmless */
    cr_assert_null(m.ents);
}

Test(strmap, put_get_replace_del)
{
    struct strmap m;
    strmap_init(&m);
    int a = 1, b = 2, c = 3;
    strmap_put(&m, "alice", &a);
    strmap_put(&m, "bob", &b);
    cr_assert_eq(m.len, 2);
    cr_assert_eq(strmap_get(&m, "alice"), &a);
    cr_assert_eq(strmap_get(&m, "bob"), &b);
    cr_assert_null(strmap_get(&m, "carol"));
    cr_assert_null(strmap_get(&m, "alic"));
    cr_assert_null(strmap_get(&m, "alicee"));

    /* Replacing keeps one entry. */
    strmap_put(&m, "alice", &c);
    cr_assert_eq(m.len, 2);
    cr_assert_eq(strmap_get(&m, "alice"), &c);

    cr_assert_eq(strmap_del(&m, "alice"), &c);
    cr_assert_eq(m.len, 1);
    cr_assert_null(strmap_get(&m, "alice"));
    cr_assert_null(strmap_del(&m, "alice"), "second delete finds nothing");
    cr_assert_eq(strmap_get(&m, "bob"), &b);
    strmap_cleanup(&m);
    cr_assert_eq(m.len, 0);
    cr_assert_eq(m.cap, 0);
}

Test(strmap, keys_fold_ascii_only)
{
    struct strmap m;
    strmap_init(&m);
    int a = 1, b = 2, c = 3, d = 4;
    strmap_put(&m, "NickName", &a);
    cr_assert_eq(strmap_get(&m, "nickname"), &a);
    cr_assert_eq(strmap_get(&m, "NICKNAME"), &a);
    cr_assert_eq(strmap_get(&m, "nIcKnAmE"), &a);

    /* CASEMAPPING=ascii: [ ] \ ~ are not the lower case of { } | ^. */
    strmap_put(&m, "[a]", &b);
    cr_assert_null(strmap_get(&m, "{a}"));
    strmap_put(&m, "{a}", &c);
    cr_assert_eq(strmap_get(&m, "[A]"), &b);
    cr_assert_eq(strmap_get(&m, "{A}"), &c);
    cr_assert_eq(m.len, 3);

    /* Bytes past ASCII are compared exactly. */
    strmap_put(&m, "\xc3\x89t\xc3\xa9", &d);        /* "Été" */
    cr_assert_null(strmap_get(&m, "\xc3\xa9t\xc3\xa9"));  /* "été" */
    cr_assert_eq(strmap_get(&m, "\xc3\x89T\xc3\xa9"), &d);

    /* A put under another case replaces the entry and its key pointer:
     * the map agrees with casemap_equal for every lookup. */
    static const char other_case[] = "NICKNAME";
    strmap_put(&m, other_case, &d);
    cr_assert_eq(m.len, 4);
    cr_assert_eq(strmap_get(&m, "nickname"), &d);
    cr_assert(casemap_equal("NickName", other_case));
    cr_assert_eq(strmap_del(&m, "nickNAME"), &d);
    cr_assert_eq(m.len, 3);
    strmap_cleanup(&m);
}

Test(strmap, empty_string_is_a_key)
{
    struct strmap m;
    strmap_init(&m);
    int a = 1;
    strmap_put(&m, "", &a);
    cr_assert_eq(strmap_get(&m, ""), &a);
    cr_assert_eq(m.len, 1);
    /* The deleted marker must not be confused with the empty key. */
    cr_assert_eq(strmap_del(&m, ""), &a);
    cr_assert_null(strmap_get(&m, ""));
    strmap_put(&m, "", &a);
    cr_assert_eq(strmap_get(&m, ""), &a);
    cr_assert_eq(m.len, 1);
    strmap_cleanup(&m);
}

#define MANY 20000

Test(strmap, grows_over_many_keys)
{
    static char keys[MANY][16];
    static int vals[MANY];
    static int seen[MANY];
    struct strmap m;
    strmap_init(&m);
    for (int i = 0; i < MANY; i++) {
        snprintf(keys[i], sizeof keys[i], "Key%d", i);
        vals[i] = i;
        strmap_put(&m, keys[i], &vals[i]);
        cr_assert_eq(m.len, (size_t)i + 1);
    }
    /* Power-of-two capacity (the probe uses & (cap - 1)) with free slots. */
    cr_assert_eq(m.cap & (m.cap - 1), 0, "cap %zu is not a power of two", m.cap);
    cr_assert_gt(m.cap, m.used);
    for (int i = 0; i < MANY; i++) {
        char lower[16];
        casemap_fold(lower, keys[i], sizeof lower);
        lower[0] = 'K';
        lower[1] = 'E';
        cr_assert_eq(strmap_get(&m, lower), &vals[i], "lost %s", keys[i]);
    }
    cr_assert_null(strmap_get(&m, "key20000"));
    memset(seen, 0, sizeof seen);
    cr_assert_eq(count_iter(&m, seen, MANY, vals), MANY);
    for (int i = 0; i < MANY; i++)
        cr_assert_eq(seen[i], 1);
    strmap_cleanup(&m);
}

Test(strmap, tombstones_are_reused_and_capacity_stays_bounded)
{
    /* A map whose live size stays ~64 while 200k distinct keys come and go
     * (nicks changing all day) must not grow without bound and must keep
     * answering: tombstones are either reused or swept by a rehash. */
    enum { LIVE = 64, ROUNDS = 200000 };
    static char keys[LIVE][24];
    static int vals[LIVE];
    struct strmap m;
    strmap_init(&m);
    for (int i = 0; i < LIVE; i++) {
        snprintf(keys[i], sizeof keys[i], "n%d", i);
        vals[i] = i;
        strmap_put(&m, keys[i], &vals[i]);
    }
    size_t max_cap = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int slot = r % LIVE;
        cr_assert_eq(strmap_del(&m, keys[slot]), &vals[slot]);
        snprintf(keys[slot], sizeof keys[slot], "r%d_%d", r, slot);
        strmap_put(&m, keys[slot], &vals[slot]);
        if (m.cap > max_cap)
            max_cap = m.cap;
    }
    cr_assert_eq(m.len, LIVE);
    cr_assert_leq(max_cap, 1024, "capacity grew to %zu for %d live keys", max_cap, LIVE);
    cr_assert_lt(m.used, m.cap, "no empty slot left: lookups of absent keys would spin");
    for (int i = 0; i < LIVE; i++)
        cr_assert_eq(strmap_get(&m, keys[i]), &vals[i]);
    cr_assert_null(strmap_get(&m, "absent"));
    cr_assert_eq(count_iter(&m, NULL, 0, NULL), LIVE);
    strmap_cleanup(&m);
}

Test(strmap, delete_all_then_refill)
{
    enum { N = 5000 };
    static char keys[N][16];
    static int vals[N];
    struct strmap m;
    strmap_init(&m);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        vals[i] = i;
        strmap_put(&m, keys[i], &vals[i]);
    }
    /* Delete in a scattered order, checking the survivors as we go. */
    for (int i = 0; i < N; i++) {
        int k = (i * 7919) % N;
        cr_assert_eq(strmap_del(&m, keys[k]), &vals[k]);
        if (i % 500 == 0)
            for (int j = 0; j < N; j += 97) {
                bool gone = false;
                for (int x = 0; x <= i && !gone; x++)
                    gone = (x * 7919) % N == j;
                cr_assert_eq(strmap_get(&m, keys[j]), gone ? NULL : &vals[j]);
            }
    }
    cr_assert_eq(m.len, 0);
    cr_assert_eq(count_iter(&m, NULL, 0, NULL), 0);
    cr_assert_null(strmap_get(&m, keys[0]));
    for (int i = 0; i < N; i++)
        strmap_put(&m, keys[i], &vals[i]);
    cr_assert_eq(m.len, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(strmap_get(&m, keys[i]), &vals[i]);
    strmap_cleanup(&m);
}

Test(strmap, delete_while_iterating_visits_everything_once)
{
    enum { N = 1000 };
    static char keys[N][16];
    static int vals[N];
    static int seen[N];
    struct strmap m;
    strmap_init(&m);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "Room%d", i);
        vals[i] = i;
        strmap_put(&m, keys[i], &vals[i]);
    }
    /* The pattern room/user teardown uses: walk and delete the current one. */
    size_t pos = 0, visited = 0;
    int *v;
    while ((v = strmap_next(&m, &pos)) != NULL) {
        cr_assert_eq(seen[*v], 0);
        seen[*v] = 1;
        cr_assert_eq(strmap_del(&m, keys[*v]), v);
        visited++;
    }
    cr_assert_eq(visited, N);
    cr_assert_eq(m.len, 0);
    strmap_cleanup(&m);
}

Test(strmap, reusable_after_cleanup)
{
    struct strmap m;
    strmap_init(&m);
    int a = 1;
    strmap_put(&m, "x", &a);
    strmap_cleanup(&m);
    cr_assert_null(strmap_get(&m, "x"));
    strmap_put(&m, "X", &a);
    cr_assert_eq(strmap_get(&m, "x"), &a);
    strmap_cleanup(&m);
}
