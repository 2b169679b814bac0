/* Tests for src/config: defaults, then config_load on temporary INI files.
 * A typo must never silently fall back to a default, so every unknown
 * section or key and every out-of-range value makes config_load fail. The
 * "bug_" tests pin down defects and fail until config.c is fixed. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char ini_path[64];

/* Writes text to a fresh temporary file; returns its path. */
static const char *write_ini(const char *text)
{
    if (ini_path[0])
        unlink(ini_path);
    snprintf(ini_path, sizeof ini_path, "/tmp/salon-config-XXXXXX");
    int fd = mkstemp(ini_path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return ini_path;
}

static void cleanup(void)
{
    if (ini_path[0])
        unlink(ini_path);
    ini_path[0] = '\0';
}

/* config_load explains each refusal on stderr; keep the test output clean. */
static void setup(void)
{
    cr_redirect_stderr();
}

TestSuite(config, .init = setup, .fini = cleanup);

static bool load_text(struct config *cfg, const char *text)
{
    config_defaults(cfg);
    return config_load(cfg, write_ini(text));
}

/* One line "[section]\nkey = value\n" must be refused. */
static void expect_refused(const char *section, const char *key, const char *value)
{
    char text[512];
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
    struct config cfg;
    cr_assert_not(load_text(&cfg, text), "[%s] %s = \"%s\" was accepted", section, key, value);
}

static void expect_accepted(const char *section, const char *key, const char *value)
{
    char text[512];
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
    struct config cfg;
    cr_assert(load_text(&cfg, text), "[%s] %s = \"%s\" was refused", section, key, value);
}

Test(config, defaults)
{
    struct config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    config_defaults(&cfg);
    cr_assert_str_eq(cfg.server_name, "salon.local");
    cr_assert_str_eq(cfg.data_dir, "./data");
    cr_assert_str_eq(cfg.log_level, "info");
    cr_assert_str_eq(cfg.motd_file, "");
    cr_assert_str_eq(cfg.listen_irc, "127.0.0.1:6667");
    cr_assert_str_eq(cfg.listen_http, "127.0.0.1:8080");
    cr_assert_str_eq(cfg.web_root, "./web");
    cr_assert_eq(cfg.open_registration, false);
    cr_assert_eq(cfg.ticket_ttl_s, 86400);
    cr_assert_eq(cfg.max_connections, 10000);
    cr_assert_eq(cfg.per_address, 16);
    cr_assert_eq(cfg.sendq, 262144);
    cr_assert_eq(cfg.registration_timeout_s, 30);
    cr_assert_eq(cfg.ping_interval_s, 120);
    cr_assert_eq(cfg.ping_timeout_s, 60);
    cr_assert_eq(cfg.max_rooms_per_user, 20);
    cr_assert_eq(cfg.flood_rate, 4);
    cr_assert_eq(cfg.flood_burst, 20);
    cr_assert_eq(cfg.user_rooms, true);
    cr_assert_eq(cfg.history_memory, 100);
    cr_assert(cfg.rooms_are_default);
    cr_assert_gt(cfg.nrooms, 0);
    for (size_t i = 0; i < cfg.nrooms; i++) {
        cr_assert(room_name_valid(cfg.rooms[i].name), "%s", cfg.rooms[i].name);
        cr_assert_neq(cfg.rooms[i].category, ROOM_CAT_NONE);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(cfg.rooms[i].name, cfg.rooms[j].name);
    }
}

Test(config, empty_file_keeps_defaults)
{
    struct config cfg, def;
    config_defaults(&def);
    cr_assert(load_text(&cfg, ""));
    cr_assert_eq(memcmp(&cfg, &def, sizeof cfg), 0);
    cr_assert(load_text(&cfg, "; only a comment\n# another\n\n"));
    cr_assert_eq(memcmp(&cfg, &def, sizeof cfg), 0);
}

Test(config, missing_file_fails)
{
    struct config cfg;
    config_defaults(&cfg);
    cr_assert_not(config_load(&cfg, "/nonexistent/salon.conf"));
}

/* The shipped example: every documented key, each at its default value. */
Test(config, example_file_parses_to_the_defaults)
{
    /* __FILE__ is tests/unit/config_test.c relative to the repository root
     * (or absolute): the example sits two directories up. */
    char path[1024];
    const char *f = __FILE__;
    const char *cut = strstr(f, "tests/unit/config_test.c");
    cr_assert_not_null(cut);
    snprintf(path, sizeof path, "%.*ssalon.conf.example", (int)(cut - f), f);
    struct config cfg, def;
    config_defaults(&def);
    config_defaults(&cfg);
    cr_assert(config_load(&cfg, path), "%s does not load", path);
    cr_assert_str_eq(cfg.server_name, def.server_name);
    cr_assert_str_eq(cfg.data_dir, def.data_dir);
    cr_assert_str_eq(cfg.log_level, def.log_level);
    cr_assert_str_eq(cfg.motd_file, def.motd_file);
    cr_assert_str_eq(cfg.listen_irc, def.listen_irc);
    cr_assert_str_eq(cfg.listen_http, def.listen_http);
    cr_assert_str_eq(cfg.web_root, def.web_root);
    cr_assert_eq(cfg.open_registration, def.open_registration);
    cr_assert_eq(cfg.ticket_ttl_s, def.ticket_ttl_s);
    cr_assert_eq(cfg.max_connections, def.max_connections);
    cr_assert_eq(cfg.per_address, def.per_address);
    cr_assert_eq(cfg.sendq, def.sendq);
    cr_assert_eq(cfg.registration_timeout_s, def.registration_timeout_s);
    cr_assert_eq(cfg.ping_interval_s, def.ping_interval_s);
    cr_assert_eq(cfg.ping_timeout_s, def.ping_timeout_s);
    cr_assert_eq(cfg.max_rooms_per_user, def.max_rooms_per_user);
    cr_assert_eq(cfg.flood_rate, def.flood_rate);
    cr_assert_eq(cfg.flood_burst, def.flood_burst);
    cr_assert_eq(cfg.user_rooms, def.user_rooms);
    cr_assert_eq(cfg.history_memory, def.history_memory);
    /* Its [room ...] sections replace the built-in catalogue. */
    cr_assert_not(cfg.rooms_are_default);
    cr_assert_eq(cfg.nrooms, 4);
    cr_assert_str_eq(cfg.rooms[0].name, "#accueil");
    cr_assert_str_eq(cfg.rooms[0].topic, "Bienvenue sur salon \xe2\x80\x94 pr\xc3\xa9sentez-vous !");
    cr_assert_eq(cfg.rooms[0].category, ROOM_CAT_THEME);
    cr_assert_str_eq(cfg.rooms[2].name, "#paris");
    cr_assert_eq(cfg.rooms[2].category, ROOM_CAT_REGION);
    cr_assert_str_eq(cfg.rooms[3].name, "#25-34ans");
    cr_assert_eq(cfg.rooms[3].category, ROOM_CAT_AGE);
}

Test(config, every_key_takes_a_non_default_value)
{
    struct config cfg;
    cr_assert(load_text(&cfg,
        "[server]\n"
        "name = chat.example.org\n"
        "data_dir = /var/lib/salon\n"
        "log_level = debug\n"
        "motd_file = /etc/salon/motd.txt\n"
        "[listen]\n"
        "irc = 0.0.0.0:6697, [::]:6697\n"
        "http =\n"
        "web_root = /srv/web\n"
        "[entry]\n"
        "open_registration = yes\n"
        "ticket_ttl = 3600\n"
        "[limits]\n"
        "max_connections = 500\n"
        "per_address = 0\n"
        "sendq = 4096\n"
        "registration_timeout = 5\n"
        "ping_interval = 30\n"
        "ping_timeout = 15\n"
        "max_rooms_per_user = 7\n"
        "[flood]\n"
        "rate = 5\n"
        "burst = 3\n"
        "[rooms]\n"
        "user_rooms = off\n"
        "history_memory = 0\n"));
    cr_assert_str_eq(cfg.server_name, "chat.example.org");
    cr_assert_str_eq(cfg.data_dir, "/var/lib/salon");
    cr_assert_str_eq(cfg.log_level, "debug");
    cr_assert_str_eq(cfg.motd_file, "/etc/salon/motd.txt");
    cr_assert_str_eq(cfg.listen_irc, "0.0.0.0:6697, [::]:6697");
    cr_assert_str_eq(cfg.listen_http, "", "an empty value disables the listener");
    cr_assert_str_eq(cfg.web_root, "/srv/web");
    cr_assert_eq(cfg.open_registration, true);
    cr_assert_eq(cfg.ticket_ttl_s, 3600);
    cr_assert_eq(cfg.max_connections, 500);
    cr_assert_eq(cfg.per_address, 0);
    cr_assert_eq(cfg.sendq, 4096);
    cr_assert_eq(cfg.registration_timeout_s, 5);
    cr_assert_eq(cfg.ping_interval_s, 30);
    cr_assert_eq(cfg.ping_timeout_s, 15);
    cr_assert_eq(cfg.max_rooms_per_user, 7);
    cr_assert_eq(cfg.flood_rate, 5);
    cr_assert_eq(cfg.flood_burst, 3);
    cr_assert_eq(cfg.user_rooms, false);
    cr_assert_eq(cfg.history_memory, 0);
    cr_assert(cfg.rooms_are_default, "no [room] section: built-in catalogue kept");
}

Test(config, room_sections_replace_the_catalogue)
{
    struct config cfg;
    cr_assert(load_text(&cfg,
        "[rooms]\n"
        "user_rooms = false\n"
        "[room #jeux]\n"
        "topic = Jeux de soci\xc3\xa9t\xc3\xa9\n"
        "category = theme\n"
        "[room #Nantes]\n"
        "category = region\n"
        "topic = Nantes\n"
        "[room #jeux]\n"
        "category = age\n"));
    cr_assert_not(cfg.rooms_are_default);
    cr_assert_eq(cfg.nrooms, 2, "a repeated section updates the same room");
    cr_assert_str_eq(cfg.rooms[0].name, "#jeux");
    cr_assert_eq(cfg.rooms[0].category, ROOM_CAT_AGE);
    cr_assert_str_eq(cfg.rooms[1].name, "#Nantes");
    cr_assert_str_eq(cfg.rooms[1].topic, "Nantes");
    cr_assert_eq(cfg.rooms[1].category, ROOM_CAT_REGION);
    /* Nothing of the built-in catalogue survives. */
    for (size_t i = 0; i < cfg.nrooms; i++)
        cr_assert_str_neq(cfg.rooms[i].name, "#accueil");
    cr_assert_eq(cfg.user_rooms, false);
}

Test(config, room_catalogue_is_bounded)
{
    size_t cap = 64 + 40 * (CONFIG_ROOMS_MAX + 1);
    char *text = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < CONFIG_ROOMS_MAX; i++)
        n += (size_t)snprintf(text + n, cap - n, "[room #r%d]\ncategory = theme\n", i);
    struct config cfg;
    cr_assert(load_text(&cfg, text));
    cr_assert_eq(cfg.nrooms, CONFIG_ROOMS_MAX);
    snprintf(text + n, cap - n, "[room #one-too-many]\ncategory = theme\n");
    cr_assert_not(load_text(&cfg, text));
    cr_assert_leq(cfg.nrooms, CONFIG_ROOMS_MAX);
    free(text);
}

Test(config, bad_room_sections_fail)
{
    expect_refused("room #x", "colour", "blue");
    expect_refused("room #x", "category", "sport");
    expect_refused("room #x", "category", "");
    expect_refused("room #x", "category", "Theme");
    expect_refused("room nohash", "topic", "x");
    expect_refused("room #a,b", "topic", "x");
    expect_refused("room #", "topic", "x");
    expect_refused("room", "topic", "x");
    expect_refused("rooms #x", "topic", "x");
    expect_accepted("room #x", "category", "region");
    expect_accepted("room #x", "topic", "");
}

Test(config, unknown_keys_and_sections_fail)
{
    expect_refused("server", "nmae", "x");
    expect_refused("server", "Name", "x");
    expect_refused("listen", "irc_port", "6667");
    expect_refused("limits", "per_adress", "3");
    expect_refused("flood", "rate_limit", "3");
    expect_refused("rooms", "history", "3");
    expect_refused("entry", "ticket_ttl_s", "3600");
    expect_refused("serveur", "name", "x");
    expect_refused("Server", "name", "x");
    expect_refused("global", "name", "x");
    /* A key before any section. */
    struct config cfg;
    cr_assert_not(load_text(&cfg, "name = x\n"));
    /* One bad line fails the whole file even among good ones. */
    cr_assert_not(load_text(&cfg, "[server]\nname = a\n[limits]\nsendq = 1\n[flood]\nrate = 3\n"));
}

Test(config, syntax_errors_fail)
{
    struct config cfg;
    cr_assert_not(load_text(&cfg, "[server]\nname\n"));
    cr_assert_not(load_text(&cfg, "[server\nname = x\n"));
}

Test(config, numbers_out_of_range_fail)
{
    struct { const char *section, *key; long min, max; } keys[] = {
        {"entry", "ticket_ttl", 1, 31536000},
        {"entry", "age_lock", 0, 31536000},
        {"limits", "max_connections", 1, 1000000},
        {"limits", "per_address", 0, 1000000},
        {"limits", "sendq", 4096, 1L << 30},
        {"limits", "registration_timeout", 1, 3600},
        {"limits", "ping_interval", 1, 86400},
        {"limits", "ping_timeout", 1, 86400},
        {"limits", "max_rooms_per_user", 1, 1000},
        {"flood", "rate", 1, 1000000},
        {"flood", "burst", 1, 1000000},
        {"rooms", "history_memory", 0, 100000},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char v[32];
        snprintf(v, sizeof v, "%ld", keys[i].min);
        expect_accepted(keys[i].section, keys[i].key, v);
        snprintf(v, sizeof v, "%ld", keys[i].max);
        expect_accepted(keys[i].section, keys[i].key, v);
        snprintf(v, sizeof v, "%ld", keys[i].min - 1);
        expect_refused(keys[i].section, keys[i].key, v);
        snprintf(v, sizeof v, "%ld", keys[i].max + 1);
        expect_refused(keys[i].section, keys[i].key, v);
        const char *junk[] = {"", "abc", "12abc", "1.5", "0x10", "99999999999999999999999",
                              "-99999999999999999999999", "1e3"};
        for (size_t j = 0; j < sizeof junk / sizeof junk[0]; j++)
            expect_refused(keys[i].section, keys[i].key, junk[j]);
    }
    /* The accepted value is the one stored. */
    struct config cfg;
    cr_assert(load_text(&cfg, "[limits]\nsendq = 1073741824\n"));
    cr_assert_eq(cfg.sendq, 1L << 30);
    cr_assert(load_text(&cfg, "[flood]\nburst = +7\n"));
    cr_assert_eq(cfg.flood_burst, 7);
}

Test(config, booleans)
{
    const char *yes[] = {"true", "TRUE", "True", "yes", "YES", "on", "On", "1"};
    const char *no[] = {"false", "FALSE", "no", "No", "off", "OFF", "0"};
    const char *bad[] = {"", "maybe", "2", "truee", "y", "n", "t", "-1", "enabled", "01"};
    struct config cfg;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[entry]\nopen_registration = %s\n[rooms]\nuser_rooms = %s\n",
                 yes[i], yes[i]);
        config_defaults(&cfg);
        cfg.user_rooms = false;
        cr_assert(config_load(&cfg, write_ini(text)), "%s", yes[i]);
        cr_assert_eq(cfg.open_registration, true, "%s", yes[i]);
        cr_assert_eq(cfg.user_rooms, true, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[entry]\nopen_registration = %s\n[rooms]\nuser_rooms = %s\n",
                 no[i], no[i]);
        config_defaults(&cfg);
        cfg.open_registration = true;
        cr_assert(config_load(&cfg, write_ini(text)), "%s", no[i]);
        cr_assert_eq(cfg.open_registration, false, "%s", no[i]);
        cr_assert_eq(cfg.user_rooms, false, "%s", no[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_refused("entry", "open_registration", bad[i]);
        expect_refused("rooms", "user_rooms", bad[i]);
    }
}

Test(config, strings_that_do_not_fit_fail)
{
    char v[128];
    memset(v, 'n', 63);
    v[63] = '\0';
    expect_accepted("server", "name", v);     /* 63 bytes + NUL = 64 */
    v[63] = 'n';
    v[64] = '\0';
    expect_refused("server", "name", v);
    memset(v, 'l', 15);
    v[15] = '\0';
    expect_accepted("server", "log_level", v);
    v[15] = 'l';
    v[16] = '\0';
    expect_refused("server", "log_level", v);
}

Test(config, later_file_overrides_earlier_values)
{
    struct config cfg;
    cr_assert(load_text(&cfg, "[flood]\nrate = 3\nrate = 4\n"));
    cr_assert_eq(cfg.flood_rate, 4);
    /* Loading a second file on top keeps what it does not mention. */
    cr_assert(config_load(&cfg, write_ini("[flood]\nburst = 9\n")));
    cr_assert_eq(cfg.flood_rate, 4);
    cr_assert_eq(cfg.flood_burst, 9);
}

/* ---- defects ---- */

/* BUG (config.c on_entry + Debian's libinih): a section header with no key
 * is never reported to the handler (Debian builds inih without
 * INI_CALL_HANDLER_ON_NEW_SECTION, so the "if (!key) return 1" branch never
 * runs), so an unknown section such as a mistyped "[limts]" whose keys were
 * commented out is accepted silently, against config.h's "an unknown
 * section ... is an error", and "[room #calme]" with no topic and no
 * category adds no room at all (the built-in catalogue stays). Fix: do not
 * rely on inih for sections: pre-scan the file for "[...]" lines in
 * config_load (or parse the INI format in config.c), validating each
 * section name and calling set_room for each "[room #x]" header. */
Test(config, bug_room_section_without_keys_is_ignored)
{
    struct config cfg;
    cr_assert(load_text(&cfg, "[room #calme]\n"));
    cr_assert_not(cfg.rooms_are_default, "a [room] section must replace the catalogue");
    cr_assert_eq(cfg.nrooms, 1);
    cr_assert_str_eq(cfg.rooms[0].name, "#calme");
}

Test(config, bug_empty_unknown_section_is_accepted)
{
    struct config cfg;
    cr_assert_not(load_text(&cfg, "[limts]\n; per_address = 3\n"),
                  "a mistyped section was accepted");
}

/* BUG (config.c + Debian's libinih, INI_MAX_LINE = 200): a line longer than
 * 199 bytes is split; the handler first gets the value cut at ~190 bytes,
 * then the rest is parsed as a new line and reported as a syntax error on
 * the wrong line number. ROOM_TOPIC_MAX is 390, so a valid topic of
 * 200-390 bytes (also: a long data_dir or motd_file path) cannot be
 * configured, with a misleading error. Fix: read the file in config.c with
 * getline() and hand inih each line through ini_parse_string, or parse
 * the INI format in config.c with a limit that covers ROOM_TOPIC_MAX. */
Test(config, bug_long_topic_is_refused)
{
    char text[600];
    char topic[301];
    memset(topic, 't', 300);
    topic[300] = '\0';
    snprintf(text, sizeof text, "[room #long]\ntopic = %s\ncategory = theme\n", topic);
    struct config cfg;
    cr_assert(load_text(&cfg, text), "a 300-byte topic (ROOM_TOPIC_MAX is %d) was refused",
              ROOM_TOPIC_MAX);
    cr_assert_str_eq(cfg.rooms[0].topic, topic);
}
