/* Tests for src/policy: the gate (policy_check), the per-address connection
 * limit and the flood penalty clock, through the public entry points only.
 * Criterion runs each test in its own process, so the gate's tables start
 * empty in every test. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "policy/gate.h"

/* The connect rate (protect_test.c) is out of the way here: these tests
 * open thousands of connections from a few addresses at once. */
static void configure(unsigned rate, unsigned burst, unsigned per_address)
{
    struct policy_config c = {.flood_rate = rate, .flood_burst = burst,
                              .per_address = per_address, .connect_per_minute = 1000000,
                              .connect_prefix_per_minute = 1000000};
    policy_configure(&c);
}

/* An IPv4-mapped address ::ffff:10.a.b.c, or a distinct IPv6 one. */
static void addr_v4(uint8_t out[16], uint32_t n)
{
    memset(out, 0, 16);
    out[10] = out[11] = 0xff;
    out[12] = 10;
    out[13] = (uint8_t)(n >> 16);
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
}

static struct verdict connect_from(const uint8_t addr[16])
{
    struct action a = {.kind = ACTION_CONNECT, .addr = addr};
    return policy_check(&a);
}

static struct verdict command_at(struct flood_clock *c, int64_t now, unsigned cost)
{
    struct action a = {.kind = ACTION_COMMAND, .clock = c, .now_ms = now, .cost = cost};
    return policy_check(&a);
}

/* ---- connection limit ---- */

Test(connlimit, n_allowed_then_denied_with_reason)
{
    configure(2, 10, 3);
    uint8_t a[16];
    addr_v4(a, 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW, "connection %d", i + 1);
    struct verdict v = connect_from(a);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_not_null(v.reason);
    cr_assert_gt(strlen(v.reason), 0);
    /* Denied attempts do not count: one close frees exactly one place. */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    policy_connection_closed(a);
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
}

Test(connlimit, addresses_are_independent)
{
    configure(2, 10, 1);
    uint8_t a[16], b[16], c[16];
    addr_v4(a, 1);
    addr_v4(b, 2);
    /* Same last bytes, different prefix: still another address. */
    memset(c, 0, 16);
    c[0] = 0x20;
    c[1] = 0x01;
    c[15] = 1;
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(b).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(c).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    cr_assert_eq(connect_from(b).kind, VERDICT_DENY);
    cr_assert_eq(connect_from(c).kind, VERDICT_DENY);
    policy_connection_closed(b);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    cr_assert_eq(connect_from(c).kind, VERDICT_DENY);
    cr_assert_eq(connect_from(b).kind, VERDICT_ALLOW);
}

Test(connlimit, zero_means_unlimited)
{
    configure(2, 10, 0);
    uint8_t a[16];
    addr_v4(a, 7);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
}

Test(connlimit, extra_or_unknown_closes_do_not_raise_the_limit)
{
    configure(2, 10, 2);
    uint8_t a[16], never[16];
    addr_v4(a, 1);
    addr_v4(never, 99);
    policy_connection_closed(never);        /* never connected: ignored */
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    policy_connection_closed(a);
    policy_connection_closed(a);            /* one too many */
    policy_connection_closed(a);
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    cr_assert_eq(connect_from(never).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(never).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_from(never).kind, VERDICT_DENY);
}

Test(connlimit, thousands_of_addresses_open_and_close_consistently)
{
    enum { N = 6000, PER = 2 };
    configure(2, 10, PER);
    uint8_t a[16];
    /* Several rounds so that released slots are reused and the table is
     * compacted (more than 1024 releases) while other addresses are live. */
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < N; i++) {
            addr_v4(a, i);
            for (int k = 0; k < PER; k++)
                cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW, "round %d addr %u", round, i);
            cr_assert_eq(connect_from(a).kind, VERDICT_DENY, "round %d addr %u", round, i);
        }
        /* Close everything of the even addresses, one of each odd one. */
        for (uint32_t i = 0; i < N; i++) {
            addr_v4(a, i);
            policy_connection_closed(a);
            if (i % 2 == 0)
                policy_connection_closed(a);
        }
        for (uint32_t i = 0; i < N; i++) {
            addr_v4(a, i);
            cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW, "round %d addr %u", round, i);
            if (i % 2 == 0)
                cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW, "round %d addr %u", round, i);
            cr_assert_eq(connect_from(a).kind, VERDICT_DENY, "round %d addr %u", round, i);
        }
        /* Back to zero everywhere. */
        for (uint32_t i = 0; i < N; i++) {
            addr_v4(a, i);
            for (int k = 0; k < PER; k++)
                policy_connection_closed(a);
        }
    }
    /* Finally every address has its full quota again. */
    for (uint32_t i = 0; i < N; i += 7) {
        addr_v4(a, i);
        cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
        cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
        cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    }
}

Test(connlimit, lowering_the_limit_applies_to_existing_counts)
{
    configure(2, 10, 5);
    uint8_t a[16];
    addr_v4(a, 3);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
    configure(2, 10, 2);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY);
    policy_connection_closed(a);
    policy_connection_closed(a);
    cr_assert_eq(connect_from(a).kind, VERDICT_DENY, "2 still open, limit 2");
    policy_connection_closed(a);
    cr_assert_eq(connect_from(a).kind, VERDICT_ALLOW);
}

/* ---- flood clock ---- */

Test(flood, exactly_burst_pass_at_one_instant)
{
    const unsigned rates[] = {1, 2, 3, 7, 10, 1000, 5000};
    const unsigned bursts[] = {1, 2, 5, 10, 50};
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        for (size_t bi = 0; bi < sizeof bursts / sizeof bursts[0]; bi++) {
            unsigned R = rates[ri], B = bursts[bi];
            configure(R, B, 16);
            struct flood_clock c = {0};
            const int64_t now = 1000000;
            for (unsigned i = 0; i < B; i++)
                cr_assert_eq(command_at(&c, now, 1).kind, VERDICT_ALLOW,
                             "R=%u B=%u: command %u throttled", R, B, i + 1);
            struct verdict v = command_at(&c, now, 1);
            cr_assert_eq(v.kind, VERDICT_THROTTLE, "R=%u B=%u: command %u passed", R, B, B + 1);
            cr_assert_gt(v.retry_ms, 0, "R=%u B=%u", R, B);
            /* At most one command's worth of time (1000/R ms, at least 1). */
            int64_t step = 1000 / R ? 1000 / R : 1;
            cr_assert_leq(v.retry_ms, step, "R=%u B=%u: retry %lld", R, B, (long long)v.retry_ms);
            /* Throttled commands do not move the clock. */
            struct verdict v2 = command_at(&c, now, 1);
            cr_assert_eq(v2.kind, VERDICT_THROTTLE);
            cr_assert_eq(v2.retry_ms, v.retry_ms);

            /* Waiting retry_ms lets exactly one more through. */
            int64_t later = now + v.retry_ms;
            cr_assert_eq(command_at(&c, later, 1).kind, VERDICT_ALLOW, "R=%u B=%u", R, B);
            struct verdict v3 = command_at(&c, later, 1);
            cr_assert_eq(v3.kind, VERDICT_THROTTLE, "R=%u B=%u", R, B);
            cr_assert_gt(v3.retry_ms, 0);
            /* Just before the retry time: still throttled. */
            if (v3.retry_ms > 1)
                cr_assert_eq(command_at(&c, later + v3.retry_ms - 1, 1).kind,
                             VERDICT_THROTTLE, "R=%u B=%u", R, B);
            cr_assert_eq(command_at(&c, later + v3.retry_ms, 1).kind, VERDICT_ALLOW);
        }
    }
}

Test(flood, sustained_rate_is_respected)
{
    /* Over 60 s of a client sending as fast as it is let through, it gets
     * burst + 60 * rate commands (within one step of rounding). */
    configure(2, 10, 16);
    struct flood_clock c = {0};
    int64_t now = 5000, end = now + 60000;
    int passed = 0;
    while (now <= end) {
        struct verdict v = command_at(&c, now, 1);
        if (v.kind == VERDICT_ALLOW) {
            passed++;
            continue;
        }
        cr_assert_eq(v.kind, VERDICT_THROTTLE);
        cr_assert_gt(v.retry_ms, 0);
        now += v.retry_ms;
    }
    cr_assert_geq(passed, 10 + 120);
    cr_assert_leq(passed, 10 + 121);
}

Test(flood, idle_time_refills_the_burst_but_not_more)
{
    configure(2, 4, 16);
    struct flood_clock c = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(command_at(&c, 0, 1).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&c, 0, 1).kind, VERDICT_THROTTLE);
    /* An hour idle: the clock does not bank credit beyond the burst. */
    int64_t t = 3600 * 1000;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(command_at(&c, t, 1).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&c, t, 1).kind, VERDICT_THROTTLE);
}

Test(flood, cost_counts_as_several_commands)
{
    configure(2, 10, 16);
    struct flood_clock c = {0};
    cr_assert_eq(command_at(&c, 0, 5).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&c, 0, 5).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&c, 0, 1).kind, VERDICT_THROTTLE);
    /* cost 0 is treated as 1. */
    struct flood_clock d = {0};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(command_at(&d, 0, 0).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&d, 0, 0).kind, VERDICT_THROTTLE);
}

Test(flood, clocks_are_per_client)
{
    configure(2, 2, 16);
    struct flood_clock a = {0}, b = {0};
    cr_assert_eq(command_at(&a, 0, 1).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&a, 0, 1).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&a, 0, 1).kind, VERDICT_THROTTLE);
    cr_assert_eq(command_at(&b, 0, 1).kind, VERDICT_ALLOW);
    cr_assert_eq(command_at(&b, 0, 1).kind, VERDICT_ALLOW);
}

Test(flood, rate_zero_is_coerced_to_one)
{
    configure(0, 1, 16);
    struct flood_clock c = {0};
    cr_assert_eq(command_at(&c, 0, 1).kind, VERDICT_ALLOW);
    struct verdict v = command_at(&c, 0, 1);
    cr_assert_eq(v.kind, VERDICT_THROTTLE);
    cr_assert_eq(v.retry_ms, 1000);
}

Test(flood, command_without_clock_is_allowed)
{
    configure(1, 1, 16);
    struct action a = {.kind = ACTION_COMMAND, .clock = NULL, .now_ms = 0};
    for (int i = 0; i < 100; i++)
        cr_assert_eq(policy_check(&a).kind, VERDICT_ALLOW);
}

Test(flood, other_actions_leave_the_clock_alone)
{
    configure(2, 1, 16);
    struct flood_clock c = {0};
    struct action a = {.kind = ACTION_SAY_ROOM, .clock = &c, .now_ms = 0, .cost = 1};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(policy_check(&a).kind, VERDICT_ALLOW);
    cr_assert_eq(c.ahead_until_ms, 0);
    cr_assert_eq(command_at(&c, 0, 1).kind, VERDICT_ALLOW);
}

/* ---- the gate's defaults ---- */

Test(gate, declared_kinds_default_to_allow)
{
    configure(2, 10, 16);
    static const uint8_t addr[16] = {0};
    struct flood_clock c = {0};
    for (int k = 0; k < ACTION_KINDS; k++) {
        /* Ordinary facts for every kind: an adult entering, a message. */
        struct action a = {.kind = (enum action_kind)k, .addr = addr, .clock = &c,
                           .nick = "alice", .target = "#room", .text = "hello", .age = 30};
        struct verdict v = policy_check(&a);
        cr_assert_eq(v.kind, VERDICT_ALLOW, "kind %d", k);
    }
}

Test(gate, undeclared_kinds_fail_closed)
{
    configure(2, 10, 16);
    const int kinds[] = {ACTION_KINDS, ACTION_KINDS + 1, 1000, -1};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        struct action a = {.kind = (enum action_kind)kinds[i], .nick = "x"};
        struct verdict v = policy_check(&a);
        cr_assert_eq(v.kind, VERDICT_DENY, "kind %d", kinds[i]);
        cr_assert_not_null(v.reason);
    }
}
