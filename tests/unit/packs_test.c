/* Tests of the rule packs salon ships (rules/, docs/rules.md) through the
 * real normaliser and rules engine: every case of tests/corpus/positive.tsv
 * matches its rule in its read, every rule has cases there, and ordinary
 * chat (tests/corpus/benign.txt) goes through. Paths are relative to the
 * repository root, where make unit and scripts/run-unit.sh run the tests.
 * Criterion runs each test in its own process, so each loads the packs. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdio.h>
#include <string.h>

#include "policy/normalize.h"
#include "policy/rules.h"

#define PACKS_DIR "rules"
#define POSITIVE_PATH "tests/corpus/positive.tsv"
#define BENIGN_PATH "tests/corpus/benign.txt"
/* The corpora's own promises (their headers): at least this many cases,
 * three of them per rule, and a thousand lines of ordinary chat. */
#define POSITIVE_MIN 150
#define CASES_PER_RULE_MIN 3
#define BENIGN_MIN 1000
/* Fewer than one benign line in a hundred may be acted on (docs/rules.md). */
#define BENIGN_MAX_RATE 0.01
/* A corpus line; longer ones are a mistake in the corpus. */
#define CORPUS_LINE_MAX 2048
#define RULES_MAX 512

static void load_packs(void)
{
    cr_assert_eq(normalize_init(), 0, "ICU data is missing");
    cr_assert_eq(rules_init(PACKS_DIR, NULL), 0, "the packs under %s did not load (see stderr)",
                 PACKS_DIR);
}

static void unload_packs(void)
{
    rules_fini();
}

TestSuite(packs, .init = load_packs, .fini = unload_packs);

/* The READ_* bit named name, or 0. */
static enum rule_read read_named(const char *name)
{
    for (unsigned bit = READ_ROOM; bit <= READ_AWAY; bit <<= 1)
        if (strcmp(rule_read_name((enum rule_read)bit), name) == 0)
            return (enum rule_read)bit;
    return 0;
}

/* Matches text as the gate would in read, in room for a room text. */
static void scan_in(const char *text, enum rule_read read, const char *room,
                    struct rule_hits *hits)
{
    static struct norm_text t;
    normalize_text(text, strlen(text), &t);
    struct rule_context ctx = {.read = read, .room = read == READ_ROOM ? room : NULL};
    rules_match(&t, &ctx, hits);
}

/* A room text is in "#test", a room without category. */
static void scan(const char *text, enum rule_read read, struct rule_hits *hits)
{
    scan_in(text, read, "#test", hits);
}

static bool has_hit(const struct rule_hits *hits, const char *id)
{
    for (unsigned i = 0; i < hits->n; i++)
        if (strcmp(hits->hit[i]->id, id) == 0)
            return true;
    return false;
}

/* The first hit that does more than count a signal, or NULL. */
static const struct rule *acting_hit(const struct rule_hits *hits)
{
    for (unsigned i = 0; i < hits->n; i++)
        if (hits->hit[i]->action > RULE_NONE)
            return hits->hit[i];
    return NULL;
}

/* Reads the next line that is neither empty nor a '#' comment into line,
 * without its end of line. Returns false at the end of the file. */
static bool next_line(FILE *f, char *line, size_t cap, int *lineno)
{
    while (fgets(line, (int)cap, f)) {
        (*lineno)++;
        size_t n = strlen(line);
        cr_assert(n > 0 && (line[n - 1] == '\n' || feof(f)), "line %d is longer than %zu bytes",
                  *lineno, cap - 2);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0 && line[0] != '#')
            return true;
    }
    return false;
}

struct pos_case {
    char *id, *read, *text;
};

/* Splits "id TAB read TAB text" in place. */
static bool split_case(char *line, struct pos_case *c)
{
    c->id = line;
    c->read = strchr(line, '\t');
    if (!c->read)
        return false;
    *c->read++ = '\0';
    c->text = strchr(c->read, '\t');
    if (!c->text)
        return false;
    *c->text++ = '\0';
    return c->text[0] != '\0';
}

/* Runs every positive case; counts[i] gets how many matched rules_at(i).
 * Returns the number of cases. */
static int run_positive(int counts[RULES_MAX])
{
    FILE *f = fopen(POSITIVE_PATH, "r");
    cr_assert_not_null(f, "cannot read %s (run from the repository root)", POSITIVE_PATH);
    char line[CORPUS_LINE_MAX];
    int lineno = 0, cases = 0;
    while (next_line(f, line, sizeof line, &lineno)) {
        struct pos_case c;
        cr_assert(split_case(line, &c), "%s:%d: expected id TAB read TAB text", POSITIVE_PATH,
                  lineno);
        enum rule_read read = read_named(c.read);
        cr_assert_neq(read, 0, "%s:%d: unknown read '%s'", POSITIVE_PATH, lineno, c.read);
        cr_assert_not_null(rules_find(c.id), "%s:%d: no rule %s", POSITIVE_PATH, lineno, c.id);
        struct rule_hits hits;
        scan(c.text, read, &hits);
        bool is_hit = has_hit(&hits, c.id);
        cr_expect(is_hit, "%s:%d: %s does not match in %s: \"%s\"", POSITIVE_PATH, lineno, c.id,
                  c.read, c.text);
        for (size_t i = 0; is_hit && i < rules_count(); i++)
            if (strcmp(rules_at(i)->id, c.id) == 0)
                counts[i]++;
        cases++;
    }
    fclose(f);
    return cases;
}

/* Also checks that every rule has its cases: a rule without one is a rule
 * nobody has seen work. */
Test(packs, positive_cases_match_and_cover_every_rule)
{
    cr_assert_gt(rules_count(), 0);
    cr_assert_leq(rules_count(), RULES_MAX);
    static int counts[RULES_MAX];
    int cases = run_positive(counts);
    cr_log_info("positive: %d cases over %zu rules", cases, rules_count());
    cr_assert_geq(cases, POSITIVE_MIN);
    for (size_t i = 0; i < rules_count(); i++) {
        const struct rule *r = rules_at(i);
        cr_expect(r->enabled, "%s ships switched off", r->id);
        cr_expect_geq(counts[i], CASES_PER_RULE_MIN,
                      "%s: %d matching cases in " POSITIVE_PATH ", %d wanted", r->id, counts[i],
                      CASES_PER_RULE_MIN);
    }
}

Test(packs, benign_chat_goes_through)
{
    FILE *f = fopen(BENIGN_PATH, "r");
    cr_assert_not_null(f, "cannot read %s (run from the repository root)", BENIGN_PATH);
    static const enum rule_read reads[] = {READ_ROOM, READ_PRIVATE};
    char line[CORPUS_LINE_MAX];
    int lineno = 0, lines = 0, acted = 0;
    while (next_line(f, line, sizeof line, &lineno)) {
        lines++;
        bool is_acted = false;
        for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
            struct rule_hits hits;
            scan(line, reads[r], &hits);
            const struct rule *hit = acting_hit(&hits);
            if (hit) {
                cr_log_info("benign line %d, %s: %s (%s) \"%s\"", lineno,
                            rule_read_name(reads[r]), hit->id, rule_action_name(hit->action),
                            line);
                is_acted = true;
            }
        }
        acted += is_acted;
    }
    fclose(f);
    double rate = lines ? (double)acted / lines : 1.0;
    cr_log_info("benign: %d of %d lines acted on (%.2f%%)", acted, lines, 100.0 * rate);
    cr_assert_geq(lines, BENIGN_MIN);
    cr_assert_lt(rate, BENIGN_MAX_RATE, "%d of %d benign lines acted on", acted, lines);
}

/* Lines that must carry no action whatever the corpus says (docs/rules.md):
 * département numbers and adults' birth years in nicks (10 to 17 at the
 * end are refused even as départements), everyday room names, sleep
 * without a sexual context, the openers, which only give a signal, and
 * prevention talk in the rooms exempt for it. */
static const char *const everyday_nicks[] = {
    "marc75", "julie_69", "sophie1990", "lea_du_33", "Nico2000", "13marc",
    "christeen", "kev_59", "sam_1988", "Lyon4ever", "agent007",
};
static const char *const everyday_rooms[] = {
    "#lyon", "#culture", "#calcul", "#hard-rock", "#hot-sauce", "#parents", "#18-25",
    "#30-40ans", "#sante", "#essex", "#lgbt", "#marseille-13", "#college-football",
};
static const char *const sleep_lines[] = {
    "elle s'est endormie devant la télé",
    "she passed out on the couch after the party",
    "je dors mal en ce moment",
};
static const char *const openers[] = {"asv ?", "t'as quel âge ?", "asl?", "how old are you?"};

static void expect_no_action(const char *const *texts, size_t n, enum rule_read read)
{
    for (size_t i = 0; i < n; i++) {
        struct rule_hits hits;
        scan(texts[i], read, &hits);
        const struct rule *hit = acting_hit(&hits);
        cr_expect_null(hit, "%s \"%s\" is acted on by %s", rule_read_name(read), texts[i],
                       hit ? hit->id : "");
    }
}

Test(packs, everyday_names_sleep_and_openers)
{
    expect_no_action(everyday_nicks, sizeof everyday_nicks / sizeof everyday_nicks[0], READ_NICK);
    expect_no_action(everyday_rooms, sizeof everyday_rooms / sizeof everyday_rooms[0],
                     READ_ROOM_NAME);
    struct rule_hits hits;
    scan("marc13", READ_NICK, &hits);
    cr_expect(hits.strongest && hits.strongest->action == RULE_BLOCK,
              "a nick ending in 13 is refused");
    for (size_t i = 0; i < sizeof sleep_lines / sizeof sleep_lines[0]; i++) {
        scan(sleep_lines[i], READ_PRIVATE, &hits);
        cr_expect_eq(hits.n, 0, "\"%s\" matches %s", sleep_lines[i],
                     hits.n ? hits.hit[0]->id : "");
    }
    expect_no_action(openers, sizeof openers / sizeof openers[0], READ_PRIVATE);
    for (size_t i = 0; i < sizeof openers / sizeof openers[0]; i++) {
        scan(openers[i], READ_PRIVATE, &hits);
        cr_expect(hits.signals & (1u << SIGNAL_AGE_PROBE), "\"%s\" gives no age signal",
                  openers[i]);
    }
    /* Prevention rooms may name the drugs; other rooms flag them. */
    scan_in("le GHB c'est dangereux en soirée", READ_ROOM, "#sante", &hits);
    cr_expect_null(acting_hit(&hits), "#sante is exempt from the substances rules");
    scan_in("le GHB c'est dangereux en soirée", READ_ROOM, "#test", &hits);
    cr_expect_not_null(acting_hit(&hits), "naming GHB is flagged outside #sante");
}
