/* Tests for src/policy/rules.c: pack parsing, keyword and regex matching
 * through the real normaliser, scope and room filters, aggregation of hits,
 * background reloads and dashboard changes. The packs are in
 * tests/unit/fixtures/rules/ (paths from the repository root, where the
 * tests run). Criterion runs each test in its own process, so the engine's
 * state starts empty in every test. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/normalize.h"
#include "policy/rules.h"

#define FIXTURES "tests/unit/fixtures/rules/"
/* ROOM_CAT_* (core/room.h). */
enum { CAT_NONE, CAT_THEME, CAT_REGION, CAT_AGE };

static void init_good(void)
{
    cr_assert_eq(normalize_init(), 0);
    cr_assert_eq(rules_init(FIXTURES "good", NULL), 0);
}

static void fini(void)
{
    rules_fini();
}

/* Matches text read as `read` in room (NULL: none) of category cat. */
static struct rule_hits match_in(const char *text, enum rule_read read, const char *room,
                                 unsigned cat)
{
    static struct norm_text t;
    normalize_text(text, strlen(text), &t);
    struct rule_context ctx = {.read = read, .room = room, .room_category = cat};
    struct rule_hits h;
    rules_match(&t, &ctx, &h);
    return h;
}

static struct rule_hits match(const char *text, enum rule_read read)
{
    bool is_room = read == READ_ROOM || read == READ_TOPIC || read == READ_ROOM_NAME;
    return match_in(text, read, is_room ? "#amitie" : NULL, is_room ? CAT_THEME : CAT_NONE);
}

static bool has(const struct rule_hits *h, const char *id)
{
    for (unsigned i = 0; i < h->n; i++)
        if (strcmp(h->hit[i]->id, id) == 0)
            return true;
    return false;
}

static bool hits(const char *text, enum rule_read read, const char *id)
{
    struct rule_hits h = match(text, read);
    return has(&h, id);
}

TestSuite(rules, .init = init_good, .fini = fini, .timeout = 30);

/* ---- loading ---- */

Test(rules, loads_every_pack_recursively_with_defaults)
{
    cr_assert_eq(rules_count(), 12);
    cr_assert_str_eq(rules_at(0)->id, "t.en.meet", "en/en.rules sorts before fr.rules");
    const struct rule *r = rules_find("t.snap");
    cr_assert_not_null(r);
    cr_assert_eq(r->severity, 50, "the category's severity by default");
    cr_assert_eq(r->view, VIEW_FOLDED);
    cr_assert_eq(r->langs, RULE_LANG_FR, "the pack's lang");
    cr_assert_eq(rules_find("t.en.meet")->langs, RULE_LANG_EN);
    cr_assert_eq(rules_find("t.phone")->view, VIEW_PLAIN, "regexes read plain by default");
    cr_assert_eq(rules_find("t.kill")->severity, 85);
    cr_assert_not(rules_find("t.off")->enabled);
    cr_assert_eq(rules_find("t.age")->room_categories, 1u << CAT_AGE);
    cr_assert_str_eq(rules_find("t.drug")->exempt_rooms[1], "#Addictions");
    cr_assert_null(rules_find("t.drug")->exempt_rooms[2]);
    cr_assert_null(rules_find("nope"));
    cr_assert_gt(rules_version(), 0);
}

Test(rules, names_of_values)
{
    cr_assert_str_eq(rule_action_name(RULE_RESTRICT), "restrict");
    cr_assert_str_eq(rule_signal_name(SIGNAL_OFF_PLATFORM), "off_platform");
    cr_assert_str_eq(rule_read_name(READ_ROOM_NAME), "room_name");
}

/* ---- keywords ---- */

Test(rules, keyword_is_a_whole_word_unless_starred)
{
    cr_assert(hits("ajoute moi sur snap", READ_PRIVATE, "t.snap"));
    cr_assert(hits("Snapchat ?", READ_PRIVATE, "t.snap"));
    cr_assert_not(hits("regarde ce snapshot", READ_PRIVATE, "t.snap"));
    cr_assert_not(hits("unsnap", READ_PRIVATE, "t.snap"));
    cr_assert(hits("mon instagram", READ_PRIVATE, "t.wild"), "insta*");
    cr_assert(hits("insta", READ_PRIVATE, "t.wild"), "'*' may stand for nothing");
    cr_assert_not(hits("inst", READ_PRIVATE, "t.wild"));
    cr_assert_not(hits("reinstall", READ_PRIVATE, "t.wild"), "\\b at the start");
}

Test(rules, wildcard_inside_a_word)
{
    cr_assert(hits("telegram", READ_PRIVATE, "t.wild"));
    cr_assert(hits("tele2gram", READ_PRIVATE, "t.wild"));
    cr_assert(hits("televisiongram", READ_PRIVATE, "t.wild"));
    cr_assert_not(hits("tele gram", READ_PRIVATE, "t.wild"), "'*' stays within a word");
}

Test(rules, repeated_letters_match_any_run)
{
    cr_assert(hits("whatsap", READ_PRIVATE, "t.snap"));
    cr_assert(hits("whatsappp", READ_PRIVATE, "t.snap"));
    cr_assert(hits("whaaaatsaaaapp", READ_PRIVATE, "t.snap"));
}

Test(rules, multiword_keyword_across_separators)
{
    cr_assert(hits("#a-son-insu", READ_ROOM_NAME, "t.insu"));
    cr_assert(hits("#asoninsu", READ_ROOM_NAME, "t.insu"));
    cr_assert(hits("fais le à son insu", READ_PRIVATE, "t.insu"));
    cr_assert(hits("A_SON_INSU", READ_ROOM_NAME, "t.insu"));
    cr_assert_not(hits("#a-son-insuline", READ_ROOM_NAME, "t.insu"));
    cr_assert_not(hits("à son insu", READ_ROOM, "t.insu"), "t.insu does not read rooms");
}

Test(rules, disguised_spellings_go_through_the_normaliser)
{
    static const char *const disguises[] = {
        "$n@pch@t", "s.n.a.p", "S N A P", "\xd1\x95n\xd0\xb0\xd1\x80" /* Cyrillic ѕ, а, р */,
        "snap_chat", "W H A T S A P P", "sn\xe2\x80\x8b" "ap" /* zero-width space */,
    };
    for (size_t i = 0; i < sizeof disguises / sizeof *disguises; i++)
        cr_assert(hits(disguises[i], READ_PRIVATE, "t.snap"), "disguise %zu", i);
}

/* ---- regexes ---- */

Test(rules, regex_reads_the_plain_view)
{
    cr_assert(hits("appelle moi au 06 12 34 56 78", READ_PRIVATE, "t.phone"));
    cr_assert(hits("0712345678", READ_PRIVATE, "t.phone"));
    cr_assert(hits("07.12.34.56.78", READ_PRIVATE, "t.phone"), "dots survive in plain");
    cr_assert_not(hits("01 12 34 56 78", READ_PRIVATE, "t.phone"));
    cr_assert_not(hits("06 12 34", READ_PRIVATE, "t.phone"));
}

Test(rules, pcre2_fallback_with_look_ahead)
{
    cr_assert(hits("envoie une photo nue", READ_PRIVATE, "t.photo"));
    cr_assert(hits("nue sur la photo stp", READ_PRIVATE, "t.photo"), "either order");
    cr_assert(hits("PHOTOS NUES", READ_PRIVATE, "t.photo"), "caseless");
    cr_assert_not(hits("une photo du chat", READ_PRIVATE, "t.photo"));
    cr_assert_not(hits("photo nue", READ_ROOM, "t.photo"), "reads private only");
}

Test(rules, pcre2_back_reference_behind_a_prefilter)
{
    cr_assert(hits("achète achète achète !", READ_ROOM, "t.repeat"));
    cr_assert(hits("GRATUIT, gratuit... Gratuit", READ_ROOM, "t.repeat"));
    /* The prefilter reads \1 as any word: PCRE2 must still say no. */
    cr_assert_not(hits("une deux trois", READ_ROOM, "t.repeat"));
    cr_assert_not(hits("achète achète vends", READ_ROOM, "t.repeat"));
}

Test(rules, pattern_check_tests_a_sample_text)
{
    char err[256] = "";
    bool matches = false;
    cr_assert(rules_check_pattern("snap*", NULL, VIEW_FOLDED, "mon $n@pchat ?", &matches, err,
                                  sizeof err));
    cr_assert(matches, "through the normaliser and the folded view");
    cr_assert(rules_check_pattern("snap", NULL, VIEW_FOLDED, "un snapshot", &matches, err,
                                  sizeof err));
    cr_assert_not(matches);
    cr_assert(rules_check_pattern(NULL, "0[67](?:[ .-]?\\d{2}){4}", VIEW_PLAIN,
                                  "au 06.12.34.56.78", &matches, err, sizeof err));
    cr_assert(matches);
    cr_assert(rules_check_pattern(NULL, "^(?=.*photo)(?=.*nue)", VIEW_PLAIN, "nue, photo",
                                  &matches, err, sizeof err));
    cr_assert(matches, "PCRE2");
    cr_assert(rules_check_pattern(NULL, "^(?=.*photo)(?=.*nue)", VIEW_PLAIN, "photo", &matches,
                                  err, sizeof err));
    cr_assert_not(matches);
}

/* The pattern alone, as the dashboard's "test" button checks it. */
static bool check(const char *keywords, const char *regex, enum rule_view view, char *err,
                  size_t errcap)
{
    return rules_check_pattern(keywords, regex, view, NULL, NULL, err, errcap);
}

Test(rules, pattern_check_and_expensive_pattern_guard)
{
    char err[256] = "";
    cr_assert(check(NULL, "0[67](?:[ .-]?\\d{2}){4}", VIEW_PLAIN, err, sizeof err));
    cr_assert(check(NULL, "(\\w+) \\1", VIEW_PLAIN, err, sizeof err),
              "a back-reference goes to PCRE2: %s", err);
    cr_assert(check("snap*, a son insu", NULL, VIEW_FOLDED, err, sizeof err));

    char big[1100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    err[0] = '\0';
    cr_assert_not(check(NULL, big, VIEW_PLAIN, err, sizeof err));
    cr_assert(strstr(err, "1000"), "%s", err);
    big[1000] = '\0';
    cr_assert(check(NULL, big, VIEW_PLAIN, err, sizeof err), "1000 bytes pass");

    err[0] = '\0';
    cr_assert_not(check(NULL, "(unclosed", VIEW_PLAIN, err, sizeof err));
    cr_assert_gt(strlen(err), 0);
    cr_assert_not(check(NULL, "x*", VIEW_PLAIN, err, sizeof err), "empty match");
    cr_assert_not(check(NULL, "(?=x)?", VIEW_PLAIN, err, sizeof err),
                  "empty match through PCRE2");
    cr_assert_not(check("*, snap", NULL, VIEW_FOLDED, err, sizeof err));
    cr_assert_not(check("snap", "snap", VIEW_FOLDED, err, sizeof err));
}

/* ---- scope and room filters ---- */

Test(rules, scope_private_does_not_match_a_room)
{
    cr_assert(hits("c'est notre secret", READ_PRIVATE, "t.secret"));
    cr_assert_not(hits("c'est notre secret", READ_ROOM, "t.secret"));
    cr_assert(hits("dis rien", READ_PRIVATE, "t.secret"));
}

Test(rules, room_categories_restrict_room_texts)
{
    struct rule_hits h = match_in("quel âge as-tu ?", READ_ROOM, "#25-34ans", CAT_AGE);
    cr_assert(has(&h, "t.age"));
    h = match_in("quel âge as-tu ?", READ_ROOM, "#musique", CAT_THEME);
    cr_assert_not(has(&h, "t.age"));
    h = match_in("quel âge as-tu ?", READ_ROOM, "#ma-salle", CAT_NONE);
    cr_assert_not(has(&h, "t.age"), "a room without category is not an age room");
    cr_assert(hits("quel âge as-tu ?", READ_PRIVATE, "t.age"), "private is not a room text");
}

Test(rules, exempt_rooms)
{
    struct rule_hits h = match_in("la drogue", READ_ROOM, "#sante", CAT_THEME);
    cr_assert_not(has(&h, "t.drug"));
    h = match_in("les drogues", READ_ROOM, "#addictions", CAT_THEME);
    cr_assert_not(has(&h, "t.drug"), "room names compare without case");
    h = match_in("les drogues", READ_ROOM, "#amitie", CAT_THEME);
    cr_assert(has(&h, "t.drug"));
}

Test(rules, disabled_rule_does_not_match)
{
    cr_assert_not(hits("banane", READ_ROOM, "t.off"));
    struct rule_hits h = match("banane", READ_ROOM);
    cr_assert_eq(h.n, 0);
    cr_assert_null(h.strongest);
}

/* ---- aggregation ---- */

Test(rules, strongest_action_among_several_hits)
{
    struct rule_hits h = match("je vais te tuer, ajoute moi sur snap", READ_PRIVATE);
    cr_assert_eq(h.n, 2);
    cr_assert(has(&h, "t.snap") && has(&h, "t.kill"));
    cr_assert_str_eq(h.strongest->id, "t.kill");
    cr_assert_eq(h.strongest->action, RULE_BLOCK);

    h = match("photo nue, ajoute moi sur snap au 0612345678", READ_PRIVATE);
    cr_assert_eq(h.n, 3);
    cr_assert_str_eq(h.strongest->id, "t.photo", "hold beats restrict and flag");
}

Test(rules, signals_and_heaviest_weight_per_signal)
{
    struct rule_hits h = match("envoie une photo nue sur snap ou au 06 12 34 56 78, "
                               "ce sera notre secret, on peut meet up",
                               READ_PRIVATE);
    cr_assert_eq(h.n, 5);
    cr_assert_eq(h.signals, (1u << SIGNAL_OFF_PLATFORM) | (1u << SIGNAL_PHOTO) |
                                (1u << SIGNAL_SECRECY) | (1u << SIGNAL_MEETING));
    cr_assert_eq(h.weight[SIGNAL_OFF_PLATFORM], 60, "the phone number outweighs snap");
    cr_assert_eq(h.weight[SIGNAL_PHOTO], 50);
    cr_assert_eq(h.weight[SIGNAL_SECRECY], 30);
    cr_assert_eq(h.weight[SIGNAL_MEETING], 30);
    cr_assert_eq(h.weight[SIGNAL_SEXUAL], 0);
}

Test(rules, a_signal_only_rule_has_no_strongest)
{
    struct rule_hits h = match("shall we meet irl", READ_PRIVATE);
    cr_assert_eq(h.n, 1);
    cr_assert_null(h.strongest, "action none");
    cr_assert_eq(h.signals, 1u << SIGNAL_MEETING);
}

Test(rules, empty_and_unread_texts)
{
    struct rule_hits h = match("", READ_PRIVATE);
    cr_assert_eq(h.n, 0);
    h = match("", READ_ROOM_NAME);
    cr_assert_eq(h.n, 0);
    h = match("snap", READ_NICK);
    cr_assert_eq(h.n, 0, "no rule reads nicks");
    h = match("   ", READ_AWAY);
    cr_assert_eq(h.n, 0);
}

/* ---- parse errors ---- */

static void init_only_normalize(void)
{
    cr_assert_eq(normalize_init(), 0);
}

TestSuite(rules_errors, .init = init_only_normalize, .fini = fini, .timeout = 30);

Test(rules_errors, unknown_key)
{
    cr_assert_eq(rules_init(FIXTURES "bad-key", NULL), -1);
}

Test(rules_errors, missing_action)
{
    cr_assert_eq(rules_init(FIXTURES "bad-action", NULL), -1);
}

Test(rules_errors, duplicate_id_across_packs)
{
    cr_assert_eq(rules_init(FIXTURES "bad-dup", NULL), -1);
}

Test(rules_errors, missing_directory)
{
    cr_assert_eq(rules_init(FIXTURES "no-such-dir", NULL), -1);
}

Test(rules_errors, no_directory_loads_nothing)
{
    cr_assert_eq(rules_init(NULL, NULL), 0);
    cr_assert_eq(rules_count(), 0);
    struct rule_hits h = match("snap", READ_PRIVATE);
    cr_assert_eq(h.n, 0);
}

/* ---- reloads ---- */

static char tmpdir[64];

static void write_pack(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t.rules", tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void init_tmp(void)
{
    cr_assert_eq(normalize_init(), 0);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rules_test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void fini_tmp(void)
{
    char path[128];
    rules_fini();
    snprintf(path, sizeof path, "%s/t.rules", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

TestSuite(rules_reload, .init = init_tmp, .fini = fini_tmp, .timeout = 30);

#define RULE_RED "[rule t.red]\ncategory = spam\nreads = room\nkeywords = red\naction = flag\n"
#define RULE_BLUE "[rule t.blue]\ncategory = spam\nreads = room\nkeywords = blue\naction = flag\n"

Test(rules_reload, picks_up_a_changed_pack)
{
    write_pack(RULE_RED);
    cr_assert_eq(rules_init(tmpdir, NULL), 0);
    uint64_t v = rules_version();
    cr_assert(hits("red", READ_ROOM, "t.red"));
    cr_assert_not(hits("blue", READ_ROOM, "t.blue"));

    write_pack(RULE_RED RULE_BLUE);
    rules_reload();
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    cr_assert_eq(rules_count(), 2);
    cr_assert(hits("blue", READ_ROOM, "t.blue"));
    cr_assert(hits("red", READ_ROOM, "t.red"));
}

Test(rules_reload, a_broken_reload_keeps_the_running_set)
{
    write_pack(RULE_RED);
    cr_assert_eq(rules_init(tmpdir, NULL), 0);
    uint64_t v = rules_version();
    write_pack(RULE_RED "[rule t.bad]\ncategory = spam\nreads = room\nregex = (\naction = flag\n");
    rules_reload();
    rules_wait_idle();
    cr_assert_eq(rules_version(), v);
    cr_assert_eq(rules_count(), 1);
    cr_assert(hits("red", READ_ROOM, "t.red"));
}

Test(rules_reload, requests_during_a_compile_end_with_the_newest)
{
    write_pack(RULE_RED);
    cr_assert_eq(rules_init(tmpdir, NULL), 0);
    write_pack(RULE_RED RULE_BLUE);
    for (int i = 0; i < 5; i++)
        rules_reload();
    rules_wait_idle();
    cr_assert_eq(rules_count(), 2);
    cr_assert(hits("blue", READ_ROOM, "t.blue"));
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

Test(rules_reload, match_limit_stops_a_catastrophic_pattern)
{
    /* Nested quantifiers and a back-reference that cannot match: PCRE2
     * would try every way of cutting the text into words. Its default
     * limit (10 million steps) lets that run for tens of milliseconds;
     * the rules' limit stops it a thousand times sooner. */
    write_pack("[rule t.evil]\ncategory = spam\nreads = topic\naction = flag\n"
               "regex = ^(\\w+\\s?)*\\1!$\n");
    cr_assert_eq(rules_init(tmpdir, NULL), 0);
    cr_assert(hits("ab ab !", READ_TOPIC, "t.evil"));
    char text[200];
    for (size_t i = 0; i < 180; i += 2)
        memcpy(text + i, "ab", 2);
    snprintf(text + 180, sizeof text - 180, " c!");
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        cr_assert_not(hits(text, READ_TOPIC, "t.evil"));
        clock_gettime(CLOCK_MONOTONIC, &b);
        best = elapsed_ms(&a, &b) < best ? elapsed_ms(&a, &b) : best;
    }
    cr_assert_lt(best, 5.0, "took %.2f ms", best);
}

Test(rules_reload, too_long_regex_in_a_pack_is_refused)
{
    char pack[1400];
    int n = snprintf(pack, sizeof pack, "[rule t.long]\ncategory = spam\nreads = room\n"
                                        "action = flag\nregex = ");
    memset(pack + n, 'a', 1001);
    pack[n + 1001] = '\n';
    pack[n + 1002] = '\0';
    write_pack(pack);
    cr_assert_eq(rules_init(tmpdir, NULL), -1);
}

/* ---- dashboard changes ---- */

Test(rules, switch_off_and_on_again)
{
    char err[256] = "";
    uint64_t v = rules_version();
    cr_assert_eq(rules_set_enabled("t.snap", false, err, sizeof err), SL_OK);
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    cr_assert_not(rules_find("t.snap")->enabled);
    cr_assert_not(hits("snap", READ_PRIVATE, "t.snap"));

    v = rules_version();
    cr_assert_eq(rules_set_enabled("t.snap", true, err, sizeof err), SL_OK);
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    cr_assert(hits("snap", READ_PRIVATE, "t.snap"));

    cr_assert_eq(rules_set_enabled("t.off", true, err, sizeof err), SL_OK);
    rules_wait_idle();
    cr_assert(hits("banane", READ_ROOM, "t.off"), "a pack's disabled rule switched on");

    cr_assert_eq(rules_set_enabled("t.nope", true, err, sizeof err), SL_ENOTFOUND);
    cr_assert_gt(strlen(err), 0);
}

Test(rules, add_and_remove_a_custom_rule)
{
    char err[256] = "";
    const char *keys[] = {"category", "reads", "keywords", "action", "reason", "signal",
                          "weight"};
    const char *values[] = {"spam", "room, private", "achat* de followers", "block",
                            "No selling here.", "gift", "25"};
    uint64_t v = rules_version();
    cr_assert_eq(rules_add("custom.followers", keys, values, 7, err, sizeof err), SL_OK, "%s",
                 err);
    cr_assert_null(rules_find("custom.followers"), "effective after the compile");
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    const struct rule *r = rules_find("custom.followers");
    cr_assert_not_null(r);
    cr_assert_str_eq(r->origin, "dashboard");
    cr_assert_str_eq(rules_at(rules_count() - 1)->id, "custom.followers", "dashboard last");
    struct rule_hits h = match("des achats de followers ici", READ_ROOM);
    cr_assert(has(&h, "custom.followers"));
    cr_assert_eq(h.weight[SIGNAL_GIFT], 25);

    cr_assert_eq(rules_add("custom.followers", keys, values, 7, err, sizeof err), SL_EEXIST);

    v = rules_version();
    cr_assert_eq(rules_set_enabled("custom.followers", false, err, sizeof err), SL_OK);
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    cr_assert_not(hits("achat de followers", READ_ROOM, "custom.followers"));

    v = rules_version();
    cr_assert_eq(rules_remove("custom.followers", err, sizeof err), SL_OK);
    rules_wait_idle();
    cr_assert_gt(rules_version(), v);
    cr_assert_null(rules_find("custom.followers"));
    cr_assert_eq(rules_count(), 12);
    cr_assert_eq(rules_remove("custom.followers", err, sizeof err), SL_ENOTFOUND);
}

Test(rules, dashboard_refusals)
{
    char err[256] = "";
    const char *keys[] = {"category", "reads", "keywords", "action"};
    const char *values[] = {"spam", "room", "red", "flag"};
    cr_assert_eq(rules_add("t.mine", keys, values, 4, err, sizeof err), SL_EINVAL, "prefix");
    cr_assert_eq(rules_add("custom.Bad Id", keys, values, 4, err, sizeof err), SL_EINVAL);

    const char *bad_cat[] = {"nonsense", "room", "red", "flag"};
    err[0] = '\0';
    cr_assert_eq(rules_add("custom.x", keys, bad_cat, 4, err, sizeof err), SL_EINVAL);
    cr_assert(strstr(err, "nonsense"), "%s", err);

    const char *bad_regex_keys[] = {"category", "reads", "regex", "action"};
    const char *bad_regex[] = {"spam", "room", "(", "flag"};
    err[0] = '\0';
    cr_assert_eq(rules_add("custom.x", bad_regex_keys, bad_regex, 4, err, sizeof err),
                 SL_EINVAL);
    cr_assert_gt(strlen(err), 0);

    const char *twice[] = {"category", "category", "reads", "keywords", "action"};
    const char *twice_v[] = {"spam", "spam", "room", "red", "flag"};
    cr_assert_eq(rules_add("custom.x", twice, twice_v, 5, err, sizeof err), SL_EINVAL);

    cr_assert_eq(rules_remove("t.snap", err, sizeof err), SL_EPERM);
    cr_assert_not_null(rules_find("t.snap"));
}

/* Two rules as strong as each other: the one loaded first is the strongest,
 * wherever each matches (the scan reports the one that ends first). */
Test(rules, equally_strong_rules_go_by_load_order)
{
    char err[256] = "";
    const char *keys[] = {"category", "reads", "keywords", "action", "reason"};
    const char *first[] = {"spam", "room", "pomme", "block", "First."};
    const char *second[] = {"spam", "room", "poire", "block", "Second."};
    cr_assert_eq(rules_add("custom.first", keys, first, 5, err, sizeof err), SL_OK, "%s", err);
    cr_assert_eq(rules_add("custom.second", keys, second, 5, err, sizeof err), SL_OK, "%s", err);
    rules_wait_idle();
    for (int i = 0; i < 2; i++) {
        struct rule_hits h = match(i ? "pomme et poire" : "poire et pomme", READ_ROOM);
        cr_assert_eq(h.n, 2);
        cr_assert_str_eq(h.strongest->id, "custom.first", "%s", h.strongest->id);
    }
    cr_assert_eq(rules_remove("custom.first", err, sizeof err), SL_OK);
    cr_assert_eq(rules_remove("custom.second", err, sizeof err), SL_OK);
    rules_wait_idle();
}

/* and_keywords: both parts anywhere in the same text, in either order,
 * neither alone. */
Test(rules, combination_needs_both_parts_in_one_text)
{
    char err[256] = "";
    const char *keys[] = {"category", "reads", "keywords", "and_keywords", "action", "reason"};
    const char *values[] = {"sexual_violence", "room, private", "profiter d elle, la baiser",
                            "endormie, elle dort", "hold", "Held for review."};
    cr_assert_eq(rules_add("custom.asleep", keys, values, 6, err, sizeof err), SL_OK, "%s", err);
    rules_wait_idle();
    cr_assert(hits("elle dort, on va profiter d'elle", READ_ROOM, "custom.asleep"));
    cr_assert(hits("la baiser pendant qu'elle est ENDORMIE", READ_PRIVATE, "custom.asleep"),
                   "order does not matter");
    cr_assert_not(hits("elle s'est endormie devant la télé", READ_ROOM, "custom.asleep"));
    cr_assert_not(hits("on va profiter d'elle au resto", READ_ROOM, "custom.asleep"));
    cr_assert_not(hits("elle dort, on va profiter d'elles", READ_ROOM, "custom.asleep"),
                  "each keyword is a whole word, as in any rule");
    cr_assert(hits("elle dort!!! on va profiter d'elle", READ_ROOM, "custom.asleep"));
    const char *both_keys[] = {"category", "reads", "keywords", "and_keywords", "and_regex",
                               "action", "reason"};
    const char *both_values[] = {"spam", "room", "a", "b", "c", "hold", "x"};
    cr_assert_neq(rules_add("custom.both", both_keys, both_values, 7, err, sizeof err), SL_OK);
    cr_assert(strstr(err, "at most one"), "%s", err);
    cr_assert_eq(rules_remove("custom.asleep", err, sizeof err), SL_OK);
    rules_wait_idle();
}

/* The compiled-database cache: a second start reads what the first wrote,
 * matches the same, and a damaged cache file only costs a compile. */
static size_t cache_files(const char *dir, char paths[][512], size_t max)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.hsdb 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    while (p && n < max && fgets(paths[n], 512, p)) {
        paths[n][strcspn(paths[n], "\n")] = '\0';
        n++;
    }
    if (p)
        pclose(p);
    return n;
}

Test(rules_cache, second_start_reads_the_cache_and_survives_damage)
{
    char dir[] = "/tmp/rules_cache.XXXXXX", paths[8][512];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(normalize_init(), 0);
    rules_set_cache_dir(dir);
    cr_assert_eq(rules_init(FIXTURES "good", NULL), 0);
    cr_assert(hits("sn4pch4t", READ_PRIVATE, "t.snap"));
    rules_fini();
    size_t n = cache_files(dir, paths, 8);
    /* The folded view's rules read room messages, private messages and a
     * room name; the plain view's, room and private messages. */
    cr_assert_eq(n, 5, "one database per view and kind of text read (%zu)", n);

    cr_assert_eq(rules_init(FIXTURES "good", NULL), 0);
    cr_assert(hits("sn4pch4t", READ_PRIVATE, "t.snap"), "the same rules from the cache");
    cr_assert_not(hits("snapshot", READ_PRIVATE, "t.snap"));
    rules_fini();

    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "r+b");
        cr_assert_not_null(f);
        fputs("damaged", f);
        fclose(f);
    }
    cr_assert_eq(rules_init(FIXTURES "good", NULL), 0, "a damaged cache falls back to compiling");
    cr_assert(hits("sn4pch4t", READ_PRIVATE, "t.snap"));
    rules_fini();
    rules_set_cache_dir(NULL);
    for (size_t i = 0; i < n; i++)
        unlink(paths[i]);
    rmdir(dir);
}
