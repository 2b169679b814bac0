/* Tests for the protection checks of the policy gate: how the gate gathers
 * effects, conversation and session risk scores (policy/risk.c), first
 * contacts (contact.c), slow mode and spam (spam.c), the connect rate
 * (connlimit.c) and lockdown with its proof of work (lockdown.c), through
 * policy_check and the public functions of each module.
 *
 * Criterion runs each Test in its own process, so every table starts
 * empty. check_content belongs to the rules engine: a stub below stands in
 * for it (the library's own is not linked when the test defines it), so
 * that a check answering "no opinion, but flag this" can be seen passing
 * through the rest of the chain. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "policy/checks.h"
#include "policy/gate.h"
#include "policy/lockdown.h"
#include "policy/normalize.h"
#include "policy/risk.h"
#include "policy/rules.h"
#include "store/store.h"

#define MINUTE 60000LL
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
/* Monotonic and wall clocks of the tests: far from 0 (0 means "not set"). */
#define T0 1000000000LL
#define W0 1700000000000LL

static void setup(void)
{
    cr_assert_eq(normalize_init(), 0);
    policy_configure(&(struct policy_config){0});       /* every default */
}

static void configure(struct policy_config c)
{
    policy_configure(&c);
}

/* ---- the stub content check ---- */

static const struct rule flag_rule = {.id = "test.flag"};
static const struct rule warn_rule = {.id = "test.warn"};

/* "[flag]" in a text: no opinion, but flag it with a 5 s mute and risk 7;
 * "[warn]": no opinion, warn the recipient, 9 s mute and risk 3. */
struct verdict check_content(const struct action *a)
{
    const char *t = a->text ? a->text : "";
    if (strstr(t, "[flag]"))
        return (struct verdict){.kind = VERDICT_NONE, .effects = EFFECT_FLAG,
                                .rule = &flag_rule, .mute_ms = 5000, .risk = 7};
    if (strstr(t, "[warn]"))
        return (struct verdict){.kind = VERDICT_NONE, .effects = EFFECT_WARN_RECIPIENT,
                                .rule = &warn_rule, .warning = "careful", .mute_ms = 9000,
                                .risk = 3};
    return (struct verdict){.kind = VERDICT_NONE};
}

/* ---- actions ---- */

static const struct pm_facts stranger = {.setting = POLICY_PM_REQUESTS};
static const struct pm_facts open_to_all = {.setting = POLICY_PM_EVERYONE};
static const struct pm_facts accepted = {.setting = POLICY_PM_REQUESTS, .is_accepted = true};

/* A private message at monotonic time now from an old session. */
static struct action pm(const char *from, const char *to, const char *text, int64_t now,
                        const struct pm_facts *facts)
{
    return (struct action){.kind = ACTION_SAY_PRIVATE, .session = from, .target_session = to,
                           .nick = from, .target = to, .text = text, .pm = facts,
                           .now_ms = now, .wall_ms = W0 + (now - T0),
                           .session_since_ms = W0 - DAY};
}

static struct action room_msg(const char *from, const char *room, const char *text,
                              int64_t now)
{
    return (struct action){.kind = ACTION_SAY_ROOM, .session = from, .nick = from,
                           .target = room, .text = text, .now_ms = now,
                           .wall_ms = W0 + (now - T0), .session_since_ms = W0 - DAY};
}

/* Makes a's session younger than new_session_ms. */
static struct action young(struct action a)
{
    a.session_since_ms = a.wall_ms - MINUTE;
    return a;
}

static struct verdict check(struct action a)
{
    return policy_check(&a);
}

/* ---- the gate gathers effects ---- */

TestSuite(gate_effects, .init = setup);

Test(gate_effects, flag_survives_a_consent_hold)
{
    struct verdict v = check(pm("alice", "bob", "hello [flag]", T0, &stranger));
    cr_assert_eq(v.kind, VERDICT_HOLD);
    cr_assert_str_eq(v.code, "PM_REQUEST");
    cr_assert_eq(v.effects, EFFECT_FLAG);
    cr_assert_eq(v.rule, &flag_rule);
    cr_assert_eq(v.mute_ms, 5000);
    cr_assert_eq(v.risk, 7);
}

Test(gate_effects, flag_survives_a_later_denial_and_the_default_allow)
{
    struct action a = pm("alice", "bob", "hello [flag]", T0, &stranger);
    a.pm_restricted = true;
    struct verdict v = check(a);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "PM_RESTRICTED");
    cr_assert_eq(v.effects, EFFECT_FLAG);
    cr_assert_eq(v.rule, &flag_rule);

    v = check(room_msg("carol", "#lobby", "[warn] meet me", T0));
    cr_assert_eq(v.kind, VERDICT_ALLOW);
    cr_assert_eq(v.effects, EFFECT_WARN_RECIPIENT);
    cr_assert_str_eq(v.warning, "careful");
    cr_assert_eq(v.mute_ms, 9000);
}

Test(gate_effects, a_plain_message_carries_nothing)
{
    struct verdict v = check(room_msg("carol", "#lobby", "bonjour", T0));
    cr_assert_eq(v.kind, VERDICT_ALLOW);
    cr_assert_eq(v.effects, 0);
    cr_assert_null(v.rule);
    cr_assert_null(v.warning);
    cr_assert_eq(v.mute_ms, 0);
}

Test(gate_effects, topic_and_away_are_declared)
{
    struct verdict v = check((struct action){.kind = ACTION_TOPIC, .text = "Bienvenue",
                                             .target = "#lobby", .session = "s"});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
    v = check((struct action){.kind = ACTION_AWAY, .text = "back soon", .session = "s"});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
}

/* ---- risk scores ---- */

TestSuite(risk, .init = setup);

static int weights[SIGNAL_KINDS] = {
    [SIGNAL_AGE_PROBE] = 15, [SIGNAL_SECRECY] = 25, [SIGNAL_OFF_PLATFORM] = 20,
    [SIGNAL_PHOTO] = 30, [SIGNAL_SCHOOL] = 10,
};

static struct risk_update note(const char *from, const char *to, enum rule_signal s, int64_t now)
{
    struct risk_update u;
    risk_note(from, to, 1u << s, weights, now, &u);
    return u;
}

Test(risk, three_kinds_in_one_conversation_cross_tip_then_review_and_restrict)
{
    struct risk_update u = note("adult", "child", SIGNAL_AGE_PROBE, T0);
    cr_assert_eq(u.conversation, 15);
    cr_assert_eq(u.effects, 0);
    u = note("adult", "child", SIGNAL_SECRECY, T0 + MINUTE);
    cr_assert_eq(u.conversation, 60);       /* (15 + 25) x 1.5 */
    cr_assert_eq(u.effects, EFFECT_SAFETY_TIP);
    u = note("adult", "child", SIGNAL_OFF_PLATFORM, T0 + 2 * MINUTE);
    cr_assert_eq(u.conversation, 120);      /* (15 + 25 + 20) x 2 */
    cr_assert_eq(u.effects, EFFECT_REVIEW_CONVERSATION | EFFECT_RESTRICT_PM);
    cr_assert_eq(u.session, 60);
    struct risk_view rv;
    cr_assert(risk_get("adult", "child", T0 + 2 * MINUTE, &rv));
    cr_assert_eq(rv.score, 120);
    cr_assert_eq(rv.kinds, (1u << SIGNAL_AGE_PROBE) | (1u << SIGNAL_SECRECY)
                               | (1u << SIGNAL_OFF_PLATFORM));
    cr_assert_eq(rv.seen_ms[SIGNAL_SECRECY], T0 + MINUTE);
}

Test(risk, several_kinds_in_one_message_cross_every_threshold_at_once)
{
    struct risk_update u;
    unsigned all = (1u << SIGNAL_AGE_PROBE) | (1u << SIGNAL_SECRECY) | (1u << SIGNAL_OFF_PLATFORM);
    risk_note("adult", "child", all, weights, T0, &u);
    cr_assert_eq(u.conversation, 120);
    cr_assert_eq(u.effects, EFFECT_SAFETY_TIP | EFFECT_REVIEW_CONVERSATION | EFFECT_RESTRICT_PM);
}

Test(risk, the_same_kinds_over_three_conversations_cross_nothing)
{
    struct risk_update a = note("adult", "c1", SIGNAL_AGE_PROBE, T0);
    struct risk_update b = note("adult", "c2", SIGNAL_SECRECY, T0 + 1);
    struct risk_update c = note("adult", "c3", SIGNAL_OFF_PLATFORM, T0 + 2);
    cr_assert_eq(a.conversation, 15);
    cr_assert_eq(b.conversation, 25);
    cr_assert_eq(c.conversation, 20);
    cr_assert_eq(a.effects | b.effects | c.effects, 0);
    cr_assert_eq(c.session, 60);
    cr_assert_eq(risk_session_score("adult", T0 + 2), 60);
}

Test(risk, only_the_senders_own_signals_count_against_it)
{
    note("a", "b", SIGNAL_AGE_PROBE, T0);
    struct risk_update u = note("b", "a", SIGNAL_SECRECY, T0 + 1);
    cr_assert_eq(u.conversation, 25);       /* not (15 + 25) x 1.5 */
    cr_assert_eq(u.effects, 0);
    struct risk_view rv;
    cr_assert(risk_get("a", "b", T0 + 1, &rv));
    cr_assert_eq(rv.score, 15);
    cr_assert_eq(rv.kinds, 1u << SIGNAL_AGE_PROBE);
}

Test(risk, a_repeat_adds_a_quarter_up_to_twice_the_weight)
{
    int expect[] = {25, 31, 38, 44, 50, 50, 50};
    for (int i = 0; i < 7; i++) {
        struct risk_update u = note("a", "b", SIGNAL_SECRECY, T0);
        cr_assert_eq(u.conversation, expect[i], "note %d: %d", i, u.conversation);
    }
}

Test(risk, scores_decay_and_thresholds_fire_once)
{
    note("a", "b", SIGNAL_AGE_PROBE, T0);
    struct risk_update u = note("a", "b", SIGNAL_SECRECY, T0);
    cr_assert_eq(u.effects, EFFECT_SAFETY_TIP);
    /* A second kind again at once: still above, no second tip. */
    u = note("a", "b", SIGNAL_SECRECY, T0 + 1);
    cr_assert_eq(u.effects, 0);
    cr_assert_gt(u.conversation, 60);
    int64_t half = policy_cfg.risk_half_life_ms;
    struct risk_view rv;
    cr_assert(risk_get("a", "b", T0 + half, &rv));
    cr_assert(rv.score >= 33 && rv.score <= 35, "one half-life: %d", rv.score);
    cr_assert(risk_get("a", "b", T0 + 3 * half, &rv));
    cr_assert_lt(rv.score, 40);
    cr_assert_gt(rv.score, 0);
    /* Long after, every kind is forgotten. */
    cr_assert(risk_get("a", "b", T0 + 6 * half, &rv));
    cr_assert_eq(rv.score, 0);
    cr_assert_eq(rv.kinds, 0);
    /* Crossing the tip again later does not fire it again. */
    note("a", "b", SIGNAL_AGE_PROBE, T0 + 6 * half);
    u = note("a", "b", SIGNAL_SECRECY, T0 + 6 * half);
    cr_assert_eq(u.conversation, 60);
    cr_assert_eq(u.effects, 0);
    /* The session score decays with the same half-life. */
    cr_assert_eq(risk_session_score("a", T0 + 6 * half + 30 * half), 0);
}

Test(risk, session_review_fires_once_from_rooms)
{
    unsigned fired = 0, times = 0;
    for (int i = 0; i < 12; i++) {
        struct risk_update u = note("spammer", NULL, SIGNAL_OFF_PLATFORM, T0 + i);
        cr_assert_eq(u.conversation, 0);
        if (u.effects) {
            fired |= u.effects;
            times++;
            cr_assert_eq(u.session, 160, "fires when it first reaches 150");
        }
    }
    cr_assert_eq(fired, EFFECT_REVIEW_CONVERSATION);
    cr_assert_eq(times, 1);
    cr_assert_eq(risk_session_score("spammer", T0 + 11), 240);
}

Test(risk, messages_are_counted_both_ways_and_forgotten_with_a_session)
{
    cr_assert_eq(risk_exchanged("a", "b"), 0);
    risk_count_message("a", "b", T0);
    risk_count_message("b", "a", T0 + 1);
    risk_count_message("a", "c", T0 + 2);
    risk_count_message("a", "a", T0 + 3);   /* to oneself: no conversation */
    cr_assert_eq(risk_exchanged("a", "b"), 2);
    cr_assert_eq(risk_exchanged("b", "a"), 2);
    cr_assert_eq(risk_exchanged("a", "c"), 1);
    cr_assert_eq(risk_conversations(), 2);
    note("a", "b", SIGNAL_PHOTO, T0 + 4);
    risk_forget("a");
    cr_assert_eq(risk_exchanged("a", "b"), 0);
    cr_assert_eq(risk_exchanged("a", "c"), 0);
    cr_assert_eq(risk_conversations(), 0);
    cr_assert_eq(risk_session_score("a", T0 + 5), 0);
}

Test(risk, memory_is_bounded_and_the_least_recently_active_goes)
{
    configure((struct policy_config){.risk_max_conversations = 100});
    char from[32], to[32];
    for (int i = 0; i < 250; i++) {
        snprintf(from, sizeof from, "s%d", i);
        snprintf(to, sizeof to, "r%d", i);
        risk_count_message(from, to, T0 + i);
        /* The first pair stays active: it is never the oldest. */
        risk_count_message("s0", "r0", T0 + i);
        cr_assert_leq(risk_conversations(), 100);
    }
    cr_assert_eq(risk_conversations(), 100);
    cr_assert_eq(risk_exchanged("s0", "r0"), 251);
    cr_assert_eq(risk_exchanged("s1", "r1"), 0, "evicted");
    cr_assert_eq(risk_exchanged("s150", "r150"), 0, "evicted");
    cr_assert_eq(risk_exchanged("s151", "r151"), 1);
    cr_assert_eq(risk_exchanged("s249", "r249"), 1);
    /* Forgetting one in the middle keeps every other reachable. */
    risk_forget("s200");
    cr_assert_eq(risk_conversations(), 99);
    for (int i = 151; i < 250; i++) {
        snprintf(from, sizeof from, "s%d", i);
        snprintf(to, sizeof to, "r%d", i);
        cr_assert_eq(risk_exchanged(from, to), i == 200 ? 0u : 1u, "pair %d", i);
    }
}

/* ---- first contacts ---- */

TestSuite(first_contact, .init = setup);

static void name(char *out, size_t cap, const char *prefix, int i)
{
    snprintf(out, cap, "%s%d", prefix, i);
}

Test(first_contact, ten_new_conversations_an_hour_then_wait)
{
    char to[32];
    for (int i = 0; i < 10; i++) {
        name(to, sizeof to, "rcpt", i);
        cr_assert_eq(check(pm("alice", to, "hi", T0 + i, &stranger)).kind, VERDICT_HOLD);
    }
    struct verdict v = check(pm("alice", "rcpt10", "hi", T0 + 20 * MINUTE, &stranger));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "FIRST_CONTACT_LIMIT");
    cr_assert_eq(v.retry_ms, HOUR - 20 * MINUTE);
    cr_assert_not_null(strstr(v.reason, "40 minutes"), "%s", v.reason);
    /* Going on in a conversation already open costs nothing. */
    cr_assert_eq(check(pm("alice", "rcpt3", "hi", T0 + 21 * MINUTE, &stranger)).kind,
                 VERDICT_HOLD);
    cr_assert_eq(check(pm("alice", "rcpt11", "hi", T0 + 21 * MINUTE, &accepted)).kind,
                 VERDICT_ALLOW);
    /* One hour after the first, one more fits; then the second must go. */
    cr_assert_eq(check(pm("alice", "rcpt10", "hi", T0 + HOUR, &stranger)).kind, VERDICT_HOLD);
    v = check(pm("alice", "rcpt12", "hi", T0 + HOUR, &stranger));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_eq(v.retry_ms, 1);
    /* Others have their own budget. */
    cr_assert_eq(check(pm("bob", "rcpt12", "hi", T0 + HOUR, &stranger)).kind, VERDICT_HOLD);
}

Test(first_contact, a_lowered_budget_waits_for_enough_to_expire)
{
    char to[32];
    for (int i = 0; i < 10; i++) {
        name(to, sizeof to, "rcpt", i);
        cr_assert_eq(check(pm("alice", to, "hi", T0 + i * MINUTE, &stranger)).kind, VERDICT_HOLD);
    }
    configure((struct policy_config){.first_contacts_per_hour = 6});
    /* Five of the ten must leave the hour: the fifth was at T0 + 4 min. */
    struct verdict v = check(pm("alice", "other", "hi", T0 + 10 * MINUTE, &stranger));
    cr_assert_str_eq(v.code, "FIRST_CONTACT_LIMIT");
    cr_assert_eq(v.retry_ms, HOUR - 6 * MINUTE);
}

Test(first_contact, a_new_session_gets_three)
{
    char to[32];
    for (int i = 0; i < 3; i++) {
        name(to, sizeof to, "rcpt", i);
        cr_assert_eq(check(young(pm("newbie", to, "hi", T0 + i, &open_to_all))).kind,
                     VERDICT_ALLOW);
    }
    struct verdict v = check(young(pm("newbie", "rcpt3", "hi", T0 + 3, &open_to_all)));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "FIRST_CONTACT_LIMIT");
    /* Once the session is old enough, the hourly budget applies. */
    cr_assert_eq(check(pm("newbie", "rcpt3", "hi", T0 + 4, &open_to_all)).kind, VERDICT_ALLOW);
}

Test(first_contact, refused_messages_spend_nothing_and_a_request_spends_once)
{
    static const struct pm_facts nobody = {.setting = POLICY_PM_NOBODY};
    configure((struct policy_config){.messages_per_minute = 1000});
    for (int i = 0; i < 20; i++)
        cr_assert_str_eq(check(pm("alice", "closed", "hi", T0 + i, &nobody)).code, "PM_REFUSED");
    for (int i = 0; i < 8; i++)
        cr_assert_eq(check(pm("alice", "bob", "hi", T0 + i, &stranger)).kind, VERDICT_HOLD);
    char to[32];
    for (int i = 0; i < 9; i++) {
        name(to, sizeof to, "rcpt", i);
        cr_assert_eq(check(pm("alice", to, "hi", T0 + 100 + i, &stranger)).kind, VERDICT_HOLD,
                     "contact %d", i + 2);
    }
    cr_assert_str_eq(check(pm("alice", "rcpt9", "hi", T0 + 200, &stranger)).code,
                     "FIRST_CONTACT_LIMIT");
}

Test(first_contact, a_restricted_sender_keeps_its_conversations_only)
{
    struct action a = pm("mallory", "bob", "hi", T0, &open_to_all);
    cr_assert_eq(check(a).kind, VERDICT_ALLOW);
    a.pm_restricted = true;
    a.now_ms++;
    cr_assert_eq(check(a).kind, VERDICT_ALLOW, "bob and mallory already talk");
    struct action b = pm("mallory", "carol", "hi", T0 + 2, &open_to_all);
    b.pm_restricted = true;
    struct verdict v = check(b);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "PM_RESTRICTED");
    cr_assert_not_null(v.reason);
    b.pm = &accepted;       /* carol accepted mallory before */
    cr_assert_eq(check(b).kind, VERDICT_ALLOW);
    /* A reply from a conversation the other opened is not new either. */
    cr_assert_eq(check(pm("dave", "mallory", "hello", T0 + 3, &open_to_all)).kind, VERDICT_ALLOW);
    struct action c = pm("mallory", "dave", "hi", T0 + 4, &stranger);
    c.pm_restricted = true;
    cr_assert_eq(check(c).kind, VERDICT_HOLD);
}

/* ---- slow mode and spam ---- */

TestSuite(spam, .init = setup);

Test(spam, slow_mode_waits_between_two_messages)
{
    struct action a = room_msg("alice", "#calm", "bonjour", T0 + 10000);
    a.room_slow_ms = 30000;
    a.last_said_ms = T0;
    struct verdict v = check(a);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "SLOW_MODE");
    cr_assert_eq(v.retry_ms, 20000);
    cr_assert_not_null(strstr(v.reason, "20 s"), "%s", v.reason);
    a.now_ms = T0 + 30000;
    cr_assert_eq(check(a).kind, VERDICT_ALLOW);
    a.last_said_ms = 0;     /* never said anything there */
    a.now_ms = T0 + 30001;
    cr_assert_eq(check(a).kind, VERDICT_ALLOW);
}

Test(spam, thirty_messages_a_minute)
{
    char text[32];
    for (int i = 0; i < 30; i++) {
        snprintf(text, sizeof text, "message %d", i);
        cr_assert_eq(check(room_msg("alice", "#a", text, T0)).kind, VERDICT_ALLOW, "%d", i);
    }
    struct verdict v = check(room_msg("alice", "#a", "one more", T0));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "RATE_LIMIT");
    cr_assert(v.retry_ms > 1900 && v.retry_ms <= 2001, "retry %lld", (long long)v.retry_ms);
    /* Private messages count too. */
    cr_assert_str_eq(check(pm("alice", "bob", "psst", T0 + 1000, &accepted)).code, "RATE_LIMIT");
    cr_assert_eq(check(room_msg("bob", "#a", "mine", T0)).kind, VERDICT_ALLOW);
    cr_assert_eq(check(room_msg("alice", "#a", "later", T0 + 2001)).kind, VERDICT_ALLOW);
}

Test(spam, the_rate_table_is_bounded)
{
    for (int i = 0; i < 30; i++)
        check(room_msg("flooder", "#a", "x", T0));
    cr_assert_str_eq(check(room_msg("flooder", "#a", "x", T0)).code, "RATE_LIMIT");
    /* 65,536 other sessions later, the least recent is forgotten. */
    char s[32];
    for (int i = 0; i < 65536; i++) {
        name(s, sizeof s, "s", i);
        check(room_msg(s, "#a", "x", T0));
    }
    cr_assert_eq(check(room_msg("flooder", "#a", "x", T0)).kind, VERDICT_ALLOW);
}

Test(spam, the_same_text_to_a_third_target_is_refused)
{
    const char *text = "Venez tous sur mon super salon !!";
    cr_assert_eq(check(room_msg("alice", "#a", text, T0)).kind, VERDICT_ALLOW);
    cr_assert_eq(check(pm("alice", "bob", "VENEZ  tous sur mon   super salon !!", T0 + 1,
                          &accepted)).kind, VERDICT_ALLOW);
    struct verdict v = check(room_msg("alice", "#C", "venez tous sur mon super salon !!",
                                      T0 + 2));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "DUPLICATE");
    /* Where it already went, it may go again; a refusal recorded nothing. */
    cr_assert_eq(check(room_msg("alice", "#A", text, T0 + 3)).kind, VERDICT_ALLOW);
    cr_assert_eq(check(room_msg("alice", "#c", "something else entirely", T0 + 4)).kind,
                 VERDICT_ALLOW);
    /* Once the first copies are a minute old, a third place is fine. */
    cr_assert_eq(check(room_msg("alice", "#c", text, T0 + 1 + MINUTE)).kind, VERDICT_ALLOW);
}

Test(spam, short_texts_are_never_duplicates)
{
    char room[32];
    for (int i = 0; i < 10; i++) {
        name(room, sizeof room, "#r", i);
        cr_assert_eq(check(room_msg("alice", room, "salut tout", T0 + i)).kind, VERDICT_ALLOW);
        name(room, sizeof room, "s", i);
        cr_assert_eq(check(room_msg(room, "#a", "lol", T0 + i)).kind, VERDICT_ALLOW);
    }
}

Test(spam, the_same_text_from_five_sessions_into_one_room_is_a_raid)
{
    const char *text = "join discord dot gg slash raid";
    char s[32];
    for (int i = 0; i < 4; i++) {
        name(s, sizeof s, "raider", i);
        cr_assert_eq(check(room_msg(s, "#a", text, T0 + i)).kind, VERDICT_ALLOW);
    }
    struct verdict v = check(room_msg("raider4", "#a", text, T0 + 10));
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "DUPLICATE");
    cr_assert_eq(check(room_msg("raider5", "#A", "JOIN discord dot gg slash raid", T0 + 11)).kind,
                 VERDICT_DENY);
    /* The first four may still repeat it; elsewhere it is not a raid. */
    cr_assert_eq(check(room_msg("raider0", "#a", text, T0 + 12)).kind, VERDICT_ALLOW);
    cr_assert_eq(check(room_msg("raider5", "#b", text, T0 + 13)).kind, VERDICT_ALLOW);
    cr_assert_eq(check(room_msg("raider6", "#a", text, T0 + 2 * MINUTE)).kind, VERDICT_ALLOW);
}

Test(spam, the_same_text_from_five_sessions_to_one_person_is_a_raid)
{
    const char *text = "you are so ugly nobody likes you";
    char s[32];
    for (int i = 0; i < 4; i++) {
        name(s, sizeof s, "troll", i);
        cr_assert_eq(check(pm(s, "victim", text, T0 + i, &accepted)).kind, VERDICT_ALLOW);
    }
    cr_assert_str_eq(check(pm("troll4", "victim", text, T0 + 5, &accepted)).code, "DUPLICATE");
    cr_assert_eq(check(pm("troll4", "other", text, T0 + 6, &accepted)).kind, VERDICT_ALLOW);
}

Test(spam, new_sessions_post_one_link_at_most)
{
    const char *two[] = {"see http://a.example and https://b.example/x",
                         "www.site.org ou bit.ly/abc", "(x.com) et y.fr, voilà",
                         "HTTPS://EXAMPLE.NET/A www.b.io"};
    const char *one[] = {"regarde https://exemple.fr/page stp", "j'ai 1.5 ans e.g. etc. ok",
                         "mail moi a@b.com ou www.site.fr", "c.a.d. vraiment rien"};
    for (size_t i = 0; i < 4; i++) {
        char from[32];
        name(from, sizeof from, "new", (int)i);
        struct verdict v = check(young(room_msg(from, "#a", two[i], T0)));
        cr_assert_eq(v.kind, VERDICT_DENY, "%s", two[i]);
        cr_assert_str_eq(v.code, "TOO_MANY_LINKS");
        cr_assert_eq(check(young(room_msg(from, "#a", one[i], T0))).kind, VERDICT_ALLOW,
                     "%s", one[i]);
        cr_assert_eq(check(room_msg(from, "#b", two[i], T0)).kind, VERDICT_ALLOW,
                     "an older session: %s", two[i]);
    }
    cr_assert_str_eq(check(young(pm("new9", "bob", two[0], T0, &accepted))).code,
                     "TOO_MANY_LINKS");
}

Test(spam, new_sessions_name_three_people_at_most)
{
    struct action a = young(room_msg("newbie", "#a", "alice bob carol dave", T0));
    a.mentions = 4;
    struct verdict v = check(a);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "TOO_MANY_MENTIONS");
    a.mentions = 3;
    cr_assert_eq(check(a).kind, VERDICT_ALLOW);
    a = room_msg("oldie", "#a", "alice bob carol dave", T0);
    a.mentions = 20;
    cr_assert_eq(check(a).kind, VERDICT_ALLOW);
}

/* ---- connect rate ---- */

TestSuite(connect_rate, .init = setup);

static void addr_v4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(out, 0, 16);
    out[10] = out[11] = 0xff;
    out[12] = a;
    out[13] = b;
    out[14] = c;
    out[15] = d;
}

static struct verdict connect_at(const uint8_t addr[16], int64_t now)
{
    return check((struct action){.kind = ACTION_CONNECT, .addr = addr, .now_ms = now});
}

static struct verdict register_at(const uint8_t addr[16], int64_t now)
{
    return check((struct action){.kind = ACTION_REGISTER, .addr = addr, .now_ms = now,
                                 .nick = "alice", .session = "s1"});
}

Test(connect_rate, twenty_a_minute_from_an_unknown_address)
{
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 7);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(connect_at(a, T0).kind, VERDICT_ALLOW, "%d", i);
        policy_connection_closed(a);
    }
    struct verdict v = connect_at(a, T0);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "CONNECT_RATE");
    cr_assert_not_null(v.reason);
    cr_assert_eq(connect_at(a, T0 + 2999).kind, VERDICT_DENY);
    cr_assert_eq(connect_at(a, T0 + 3000).kind, VERDICT_ALLOW, "a token every 3 s");
}

Test(connect_rate, an_address_entered_from_is_exempt_for_a_day)
{
    uint8_t lo[16];
    addr_v4(lo, 127, 0, 0, 1);
    cr_assert_eq(connect_at(lo, T0).kind, VERDICT_ALLOW);
    cr_assert_eq(register_at(lo, T0 + 10).kind, VERDICT_ALLOW);
    policy_connection_closed(lo);
    /* A test suite: hundreds of connections a minute from loopback. */
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(connect_at(lo, T0 + 20 + i).kind, VERDICT_ALLOW, "%d", i);
        policy_connection_closed(lo);
    }
    for (int i = 0; i < 20; i++) {
        connect_at(lo, T0 + 10 + DAY + i);
        policy_connection_closed(lo);
    }
    cr_assert_str_eq(connect_at(lo, T0 + 10 + DAY + 20).code, "CONNECT_RATE",
                     "a day later the address is unknown again");
}

Test(connect_rate, a_refused_entry_does_not_make_an_address_known)
{
    uint8_t a[16];
    addr_v4(a, 198, 51, 100, 1);
    struct action enter = {.kind = ACTION_ENTER, .addr = a, .age = 15, .now_ms = T0,
                           .wall_ms = W0};
    cr_assert_eq(check(enter).kind, VERDICT_DENY);
    for (int i = 0; i < 20; i++) {
        connect_at(a, T0 + 1);
        policy_connection_closed(a);
    }
    cr_assert_eq(connect_at(a, T0 + 1).kind, VERDICT_DENY);
    enter.age = 30;
    enter.device = NULL;
    cr_assert_eq(check(enter).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_at(a, T0 + 2).kind, VERDICT_ALLOW);
}

Test(connect_rate, sixty_a_minute_from_a_prefix)
{
    uint8_t a[16];
    for (int i = 0; i < 60; i++) {
        addr_v4(a, 203, 0, 113, (uint8_t)i);
        cr_assert_eq(connect_at(a, T0).kind, VERDICT_ALLOW, "%d", i);
    }
    addr_v4(a, 203, 0, 113, 200);
    cr_assert_str_eq(connect_at(a, T0).code, "CONNECT_RATE");
    addr_v4(a, 203, 0, 114, 200);
    cr_assert_eq(connect_at(a, T0).kind, VERDICT_ALLOW, "another /24");
    /* IPv6: the /64 is the prefix. */
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
    for (int i = 0; i < 60; i++) {
        v6[15] = (uint8_t)i;
        v6[9] = (uint8_t)(i * 7);
        cr_assert_eq(connect_at(v6, T0).kind, VERDICT_ALLOW, "%d", i);
    }
    v6[15] = 99;
    cr_assert_str_eq(connect_at(v6, T0).code, "CONNECT_RATE");
    v6[7] = 2;
    cr_assert_eq(connect_at(v6, T0).kind, VERDICT_ALLOW, "another /64");
}

Test(connect_rate, a_refused_connection_takes_no_place)
{
    configure((struct policy_config){.per_address = 2, .connect_per_minute = 1});
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 9);
    cr_assert_eq(connect_at(a, T0).kind, VERDICT_ALLOW);
    cr_assert_str_eq(connect_at(a, T0).code, "CONNECT_RATE");
    cr_assert_eq(register_at(a, T0).kind, VERDICT_ALLOW);
    cr_assert_eq(connect_at(a, T0).kind, VERDICT_ALLOW, "second place still free");
    cr_assert_str_eq(connect_at(a, T0).code, "TOO_MANY_CONNECTIONS");
}

Test(connect_rate, memory_is_bounded)
{
    uint8_t a[16], first[16];
    addr_v4(first, 10, 0, 0, 1);
    for (int i = 0; i < 20; i++) {
        connect_at(first, T0);
        policy_connection_closed(first);
    }
    cr_assert_str_eq(connect_at(first, T0).code, "CONNECT_RATE");
    /* 65,536 other addresses (in as many prefixes) push it out. */
    for (uint32_t i = 0; i < 65536; i++) {
        addr_v4(a, 11, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
        a[12] = (uint8_t)(11 + (i >> 8) % 200);
        connect_at(a, T0);
        policy_connection_closed(a);
    }
    cr_assert_eq(connect_at(first, T0).kind, VERDICT_ALLOW);
}

/* ---- lockdown ---- */

TestSuite(lockdown, .init = setup);

static struct verdict enter_with(const char *pow, int64_t wall)
{
    return check((struct action){.kind = ACTION_ENTER, .age = 30, .pow = pow, .wall_ms = wall,
                                 .now_ms = T0});
}

static unsigned zero_bits(const char *proof)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)proof, strlen(proof));
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof h; i++) {
        for (int b = 7; b >= 0; b--) {
            if (h[i] >> b & 1)
                return bits;
            bits++;
        }
    }
    return bits;
}

/* The first nonce whose proof has (want_good) or has not enough bits. */
static const char *solve(const char *challenge, unsigned bits, bool want_good)
{
    static char proof[256];
    for (unsigned long n = 0;; n++) {
        snprintf(proof, sizeof proof, "%s:%lu", challenge, n);
        if ((zero_bits(proof) >= bits) == want_good)
            return proof;
    }
}

/* A fresh challenge, copied. */
static const char *challenge_at(int64_t wall, char *out, size_t cap)
{
    struct verdict v = enter_with(NULL, wall);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "pow_required");
    cr_assert_not_null(v.challenge);
    snprintf(out, cap, "%s", v.challenge);
    return out;
}

Test(lockdown, level_names)
{
    cr_assert_str_eq(lockdown_level_name(LOCKDOWN_OFF), "off");
    cr_assert_str_eq(lockdown_level_name(LOCKDOWN_CHALLENGE), "challenge");
    cr_assert_str_eq(lockdown_level_name(LOCKDOWN_CLOSED), "closed");
    cr_assert_eq(lockdown_level_parse("challenge"), LOCKDOWN_CHALLENGE);
    cr_assert_eq(lockdown_level_parse("closed"), LOCKDOWN_CLOSED);
    cr_assert_eq(lockdown_level_parse("off"), LOCKDOWN_OFF);
    cr_assert_eq(lockdown_level_parse("Closed"), -1);
    cr_assert_eq(lockdown_level_parse(""), -1);
    cr_assert_eq(lockdown_level(), LOCKDOWN_OFF);
    cr_assert_eq(lockdown_bits(), 16);
}

Test(lockdown, closed_refuses_entries_only)
{
    lockdown_set(LOCKDOWN_CLOSED);
    struct verdict v = enter_with(NULL, W0);
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "closed");
    cr_assert_null(v.challenge);
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 1);
    cr_assert_eq(register_at(a, T0).kind, VERDICT_ALLOW);
    cr_assert_eq(check(room_msg("s1", "#a", "hello", T0)).kind, VERDICT_ALLOW);
    lockdown_set(LOCKDOWN_OFF);
    cr_assert_eq(enter_with(NULL, W0).kind, VERDICT_ALLOW);
}

Test(lockdown, a_solved_challenge_enters_once)
{
    configure((struct policy_config){.pow_bits = 12});
    lockdown_set(LOCKDOWN_CHALLENGE);
    char c[200];
    challenge_at(W0, c, sizeof c);
    /* v1.<expiry>.<32 hex>.<bits>.<64 hex> */
    char copy[200], *parts[6], *save = NULL;
    snprintf(copy, sizeof copy, "%s", c);
    int n = 0;
    for (char *p = strtok_r(copy, ".", &save); p && n < 6; p = strtok_r(NULL, ".", &save))
        parts[n++] = p;
    cr_assert_eq(n, 5);
    cr_assert_str_eq(parts[0], "v1");
    cr_assert_eq(strtoll(parts[1], NULL, 10), W0 + LOCKDOWN_CHALLENGE_MS);
    cr_assert_eq(strlen(parts[2]), 32);
    cr_assert_str_eq(parts[3], "12");
    cr_assert_eq(strlen(parts[4]), 64);

    const char *bad = solve(c, 12, false);
    cr_assert_str_eq(enter_with(bad, W0 + 1000).code, "pow_required", "%s", bad);
    char good[256];
    snprintf(good, sizeof good, "%s", solve(c, 12, true));
    cr_assert_eq(enter_with(good, W0 + 1000).kind, VERDICT_ALLOW);
    struct verdict v = enter_with(good, W0 + 2000);
    cr_assert_str_eq(v.code, "pow_required", "used twice");
    cr_assert_str_neq(v.challenge, c, "a fresh challenge each time");
}

Test(lockdown, expired_forged_and_malformed_proofs_are_refused)
{
    configure((struct policy_config){.pow_bits = 12});
    lockdown_set(LOCKDOWN_CHALLENGE);
    char c[200], proof[256];
    challenge_at(W0, c, sizeof c);
    snprintf(proof, sizeof proof, "%s", solve(c, 12, true));
    cr_assert_str_eq(enter_with(proof, W0 + LOCKDOWN_CHALLENGE_MS).code, "pow_required",
                     "expired");
    challenge_at(W0, c, sizeof c);
    snprintf(proof, sizeof proof, "%s", solve(c, 12, true));
    cr_assert_eq(enter_with(proof, W0 + LOCKDOWN_CHALLENGE_MS - 1).kind, VERDICT_ALLOW);

    /* A MAC changed by one digit. */
    challenge_at(W0, c, sizeof c);
    size_t len = strlen(c);
    c[len - 1] = c[len - 1] == '0' ? '1' : '0';
    cr_assert_str_eq(enter_with(solve(c, 12, true), W0).code, "pow_required", "forged MAC");
    /* Fewer bits asked, MAC kept. */
    challenge_at(W0, c, sizeof c);
    char *bits = strstr(c, ".12.");
    cr_assert_not_null(bits);
    memmove(bits + 2, bits + 3, strlen(bits + 3) + 1);
    bits[1] = '1';
    cr_assert_str_eq(enter_with(solve(c, 1, true), W0).code, "pow_required", "bits lowered");
    /* A later expiry, MAC kept. */
    challenge_at(W0, c, sizeof c);
    c[3] = c[3] == '9' ? '8' : (char)(c[3] + 1);
    cr_assert_str_eq(enter_with(solve(c, 12, true), W0).code, "pow_required", "expiry moved");

    /* Nonces: digits only, 1 to 20 of them. */
    challenge_at(W0, c, sizeof c);
    static const struct {
        const char *before, *after;
    } shapes[] = {{"", ":"}, {"", ":12a"}, {"", ":-1"}, {"", ": 1"},
                  {"", ":123456789012345678901"}, {"", ""}, {"x", ":1"}, {"", ":1:1"}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        snprintf(proof, sizeof proof, "%s%s%s", shapes[i].before, c, shapes[i].after);
        cr_assert_str_eq(enter_with(proof, W0).code, "pow_required", "%s", proof);
    }
    cr_assert_str_eq(enter_with("", W0).code, "pow_required");
    cr_assert_str_eq(enter_with("v1.1.2.3.4:5", W0).code, "pow_required");
}

Test(lockdown, the_level_is_kept_in_storage)
{
    char dir[] = "/tmp/salon-protect-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/db", dir);
    enum sl_err err;
    struct store *st = store_open(path, &err);
    cr_assert_not_null(st);
    store_put_record(st, "lockdown", "level", "challenge", 0);
    store_close(st);
    st = store_open(path, &err);
    lockdown_init(st);
    cr_assert_eq(lockdown_level(), LOCKDOWN_CHALLENGE);
    lockdown_set(LOCKDOWN_CLOSED);
    store_close(st);
    lockdown_init(NULL);
    lockdown_set(LOCKDOWN_OFF);     /* in memory only, as after a restart */
    st = store_open(path, &err);
    lockdown_init(st);
    cr_assert_eq(lockdown_level(), LOCKDOWN_CLOSED);
    store_close(st);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}
