/* Tests for the policy checks' bounded tables (struct ptable, in
 * src/policy/gate.c): exact least-recently-used eviction at the cap, keys
 * that share an index tag, and a long random run against a plain model. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/checks.h"

struct item {
    struct ptable_head h;
    uint64_t value;                 /* derived from the key, to catch mix-ups */
};

static uint64_t value_of(uint64_t key)
{
    return key * 0x9E3779B97F4A7C15ULL ^ 0x5A5A5A5A5A5A5A5AULL;
}

static void drop(struct ptable *t)
{
    free(t->ents);
    free(t->slots);
}

static struct item *use(struct ptable *t, uint64_t key, size_t cap)
{
    struct item *it = ptable_use(t, key, cap);
    cr_assert_not_null(it);
    cr_assert_eq(it->h.key, key);
    if (!it->value)
        it->value = value_of(key);
    cr_assert_eq(it->value, value_of(key), "entry of %llx holds another key's value",
                 (unsigned long long)key);
    return it;
}

Test(ptable, the_least_recently_used_entry_makes_room)
{
    struct ptable t = PTABLE_INIT(struct item);
    for (uint64_t k = 1; k <= 4; k++)
        use(&t, k, 4);
    use(&t, 1, 4);                  /* 2 is now the least recent */
    cr_assert_not_null(ptable_find(&t, 2));   /* a find is not a use */
    use(&t, 5, 4);
    cr_assert_null(ptable_find(&t, 2));
    cr_assert_eq(t.count, 4);
    ptable_touch(&t, ptable_find(&t, 3));     /* order now 4, 1, 5, 3 */
    use(&t, 6, 4);
    cr_assert_null(ptable_find(&t, 4));
    use(&t, 7, 4);
    cr_assert_null(ptable_find(&t, 1));
    for (uint64_t k = 3; k <= 7; k += (k == 3 ? 2 : 1))
        cr_assert_not_null(ptable_find(&t, k), "key %llu lost", (unsigned long long)k);
    drop(&t);
}

/* Keys equal in their low 32 bits share the index's tag and home slot:
 * only the whole key tells them apart. */
Test(ptable, keys_sharing_a_tag_stay_distinct)
{
    struct ptable t = PTABLE_INIT(struct item);
    for (uint64_t hi = 0; hi < 40; hi++)
        use(&t, hi << 32 | 0x1234, 1000);
    cr_assert_eq(t.count, 40);
    for (uint64_t hi = 0; hi < 40; hi += 3)
        ptable_remove(&t, ptable_find(&t, hi << 32 | 0x1234));
    for (uint64_t hi = 0; hi < 40; hi++) {
        struct item *it = ptable_find(&t, hi << 32 | 0x1234);
        if (hi % 3 == 0) {
            cr_assert_null(it);
        } else {
            cr_assert_not_null(it);
            cr_assert_eq(it->value, value_of(hi << 32 | 0x1234));
        }
    }
    drop(&t);
}

/* The model: keys from least to most recent. */
static uint64_t model[64];
static unsigned model_n;

static int model_index(uint64_t key)
{
    for (unsigned i = 0; i < model_n; i++)
        if (model[i] == key)
            return (int)i;
    return -1;
}

static void model_drop(unsigned i)
{
    memmove(model + i, model + i + 1, (model_n - i - 1) * sizeof *model);
    model_n--;
}

static void model_use(uint64_t key, unsigned cap)
{
    int i = model_index(key);
    if (i >= 0)
        model_drop((unsigned)i);
    else if (model_n == cap)
        model_drop(0);
    model[model_n++] = key;
}

Test(ptable, a_long_random_run_matches_the_model)
{
    enum { CAP = 48, UNIVERSE = 160, STEPS = 200000 };
    struct ptable t = PTABLE_INIT(struct item);
    uint64_t keys[UNIVERSE], rng = 0x2545F4914F6CDD1DULL;
    /* Every fourth key repeats another's low half: probing must compare
     * whole keys, and deletion must keep such runs reachable. */
    for (unsigned i = 0; i < UNIVERSE; i++)
        keys[i] = i % 4 == 3 ? keys[i - 1] + (1ULL << 32) : value_of(i + 1) | 1;
    for (unsigned step = 0; step < STEPS; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t key = keys[rng % UNIVERSE];
        switch ((rng >> 32) % 8) {
        case 0:                     /* remove an entry picked by position */
            if (t.count) {
                struct item *it = ptable_at(&t, (uint32_t)(rng >> 40) % t.count);
                cr_assert_not_null(it);
                int i = model_index(it->h.key);
                cr_assert_geq(i, 0, "step %u: entry %llx not in the model", step,
                              (unsigned long long)it->h.key);
                model_drop((unsigned)i);
                ptable_remove(&t, it);
            }
            break;
        case 1: {                   /* touch, if present */
            struct item *it = ptable_find(&t, key);
            cr_assert_eq(it != NULL, model_index(key) >= 0, "step %u: find disagrees", step);
            if (it) {
                ptable_touch(&t, it);
                model_use(key, CAP);
            }
            break;
        }
        default:
            use(&t, key, CAP);
            model_use(key, CAP);
        }
        cr_assert_eq(t.count, model_n, "step %u: %u entries, the model has %u", step, t.count,
                     model_n);
        if (step % 997 == 0)
            for (unsigned i = 0; i < UNIVERSE; i++) {
                struct item *it = ptable_find(&t, keys[i]);
                cr_assert_eq(it != NULL, model_index(keys[i]) >= 0,
                             "step %u: key %u present %d", step, i, it != NULL);
                if (it)
                    cr_assert_eq(it->value, value_of(keys[i]));
            }
    }
    drop(&t);
}
