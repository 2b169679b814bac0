#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/ini.h"


void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->server_name, sizeof cfg->server_name, "salon.local");
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "./data");
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
    snprintf(cfg->listen_irc, sizeof cfg->listen_irc, "127.0.0.1:6667");
    snprintf(cfg->listen_http, sizeof cfg->listen_http, "127.0.0.1:8080");
    snprintf(cfg->web_root, sizeof cfg->web_root, "./web");
    cfg->open_registration = false;
    cfg->ticket_ttl_s = 86400;
    cfg->age_lock_s = 86400;
    cfg->secure_cookies = false;
    cfg->max_connections = 10000;
    cfg->per_address = 16;
    cfg->sendq = 262144;
    cfg->registration_timeout_s = 30;
    cfg->ping_interval_s = 120;
    cfg->ping_timeout_s = 60;
    cfg->max_rooms_per_user = 20;
    cfg->flood_rate = 4;
    struct config_protection *p = &cfg->protection;
    snprintf(p->rules_dir, sizeof p->rules_dir, "./rules");
    p->friction_messages = 10;
    p->risk_tip = 40;
    p->risk_review = 70;
    p->risk_restrict = 100;
    p->session_review = 150;
    p->risk_half_life_s = 604800;
    p->first_contacts_per_hour = 10;
    p->first_contacts_new = 3;
    p->new_session_s = 600;
    p->new_links_max = 1;
    p->new_mentions_max = 3;
    p->messages_per_minute = 30;
    p->duplicate_targets = 3;
    p->duplicate_sessions = 5;
    p->duplicate_window_s = 60;
    p->connect_per_minute = 20;
    p->connect_prefix_per_minute = 60;
    p->pow_bits = 16;
    cfg->flood_burst = 20;
    cfg->user_rooms = true;
    cfg->history_memory = 100;
    /* The built-in catalogue, used until a configuration names its own
     * rooms: a few themes, regions and age brackets. */
    static const struct { const char *name, *topic; enum room_category cat; } rooms[] = {
        {"#accueil", "Bienvenue sur salon ! Présentez-vous, soyez bienveillants.", ROOM_CAT_THEME},
        {"#amitie", "Se faire des amis, discuter de tout et de rien", ROOM_CAT_THEME},
        {"#musique", "Ce que vous écoutez en ce moment", ROOM_CAT_THEME},
        {"#cinema-series", "Films et séries, sans divulgâcher", ROOM_CAT_THEME},
        {"#paris", "Paris et Île-de-France", ROOM_CAT_REGION},
        {"#lyon", "Lyon et Auvergne-Rhône-Alpes", ROOM_CAT_REGION},
        {"#marseille", "Marseille et Provence-Alpes-Côte d'Azur", ROOM_CAT_REGION},
        {"#belgique", "Belgique", ROOM_CAT_REGION},
        {"#quebec", "Québec et Canada francophone", ROOM_CAT_REGION},
        {"#18-24ans", "Pour les 18–24 ans", ROOM_CAT_AGE},
        {"#25-34ans", "Pour les 25–34 ans", ROOM_CAT_AGE},
        {"#35-49ans", "Pour les 35–49 ans", ROOM_CAT_AGE},
        {"#50ans-et-plus", "Pour les 50 ans et plus", ROOM_CAT_AGE},
    };
    for (size_t i = 0; i < sizeof rooms / sizeof rooms[0]; i++) {
        struct config_room *r = &cfg->rooms[cfg->nrooms++];
        snprintf(r->name, sizeof r->name, "%s", rooms[i].name);
        snprintf(r->topic, sizeof r->topic, "%s", rooms[i].topic);
        r->category = rooms[i].cat;
    }
    cfg->rooms_are_default = true;
}

struct parse {
    struct config *cfg;
};

static bool parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
             !strcasecmp(v, "off"))
        *out = false;
    else
        return false;
    return true;
}

#define STR(field) set_str(cfg->field, sizeof cfg->field, value)

static bool set_str(char *dst, size_t cap, const char *value)
{
    return (size_t)snprintf(dst, cap, "%s", value) < cap;
}

static bool set_room(struct config *cfg, const char *name, const char *key, const char *value)
{
    struct config_room *r = NULL;
    if (cfg->rooms_are_default) {
        /* A configuration that names rooms replaces the built-in set. */
        cfg->nrooms = 0;
        cfg->rooms_are_default = false;
    }
    for (size_t i = 0; i < cfg->nrooms; i++)
        if (strcmp(cfg->rooms[i].name, name) == 0)
            r = &cfg->rooms[i];
    if (!r) {
        if (cfg->nrooms == CONFIG_ROOMS_MAX || !room_name_valid(name))
            return false;
        r = &cfg->rooms[cfg->nrooms++];
        snprintf(r->name, sizeof r->name, "%s", name);
    }
    if (!key)
        return true;
    if (!strcmp(key, "topic")) {
        snprintf(r->topic, sizeof r->topic, "%s", value);
        return true;
    }
    if (!strcmp(key, "category")) {
        static const char *cats[] = {"", "theme", "region", "age"};
        for (int i = 1; i < 4; i++)
            if (!strcmp(value, cats[i])) {
                r->category = (enum room_category)i;
                return true;
            }
    }
    return false;
}

/* The numbers of [protection], with their ranges. */
static bool protection_number(struct config_protection *p, const char *key, const char *value)
{
    const struct {
        const char *key;
        long *field;
        long min, max;
    } keys[] = {
        {"friction_messages", &p->friction_messages, 1, 1000000},
        {"risk_tip", &p->risk_tip, 1, 1000000},
        {"risk_review", &p->risk_review, 1, 1000000},
        {"risk_restrict", &p->risk_restrict, 1, 1000000},
        {"session_review", &p->session_review, 1, 1000000},
        {"risk_half_life", &p->risk_half_life_s, 1, 31536000},
        {"first_contacts_per_hour", &p->first_contacts_per_hour, 1, 32},
        {"first_contacts_new", &p->first_contacts_new, 1, 32},
        {"new_session", &p->new_session_s, 1, 31536000},
        {"new_links_max", &p->new_links_max, 1, 1000},
        {"new_mentions_max", &p->new_mentions_max, 1, 1000},
        {"messages_per_minute", &p->messages_per_minute, 1, 1000000},
        {"duplicate_targets", &p->duplicate_targets, 1, 8},
        {"duplicate_sessions", &p->duplicate_sessions, 1, 8},
        {"duplicate_window", &p->duplicate_window_s, 1, 86400},
        {"connect_per_minute", &p->connect_per_minute, 1, 1000000},
        {"connect_prefix_per_minute", &p->connect_prefix_per_minute, 1, 1000000},
        {"pow_bits", &p->pow_bits, 1, 32},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i].key))
            return ini_long(value, keys[i].min, keys[i].max, keys[i].field);
    return false;
}

static bool section_known(struct config *cfg, const char *section)
{
    static const char *const names[] = {"server", "listen", "entry", "limits", "flood", "rooms",
                                        "protection"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(section, names[i]))
            return true;
    /* A room section declares the room even before (or without) keys. */
    return !strncmp(section, "room ", 5) && set_room(cfg, section + 5, NULL, NULL);
}

static bool on_entry(struct parse *p, const char *section, const char *key, const char *value)
{
    struct config *cfg = p->cfg;
    bool ok = false;
    if (!strcmp(section, "server")) {
        if (!strcmp(key, "name")) ok = STR(server_name);
        else if (!strcmp(key, "data_dir")) ok = STR(data_dir);
        else if (!strcmp(key, "log_level")) ok = STR(log_level);
        else if (!strcmp(key, "motd_file")) ok = STR(motd_file);
    } else if (!strcmp(section, "listen")) {
        if (!strcmp(key, "irc")) ok = STR(listen_irc);
        else if (!strcmp(key, "http")) ok = STR(listen_http);
        else if (!strcmp(key, "web_root")) ok = STR(web_root);
    } else if (!strcmp(section, "entry")) {
        if (!strcmp(key, "open_registration")) ok = parse_bool(value, &cfg->open_registration);
        else if (!strcmp(key, "ticket_ttl")) ok = ini_long(value, 1, 31536000, &cfg->ticket_ttl_s);
        else if (!strcmp(key, "age_lock")) ok = ini_long(value, 0, 31536000, &cfg->age_lock_s);
        else if (!strcmp(key, "secure_cookies")) ok = parse_bool(value, &cfg->secure_cookies);
    } else if (!strcmp(section, "limits")) {
        if (!strcmp(key, "max_connections")) ok = ini_long(value, 1, 1000000, &cfg->max_connections);
        else if (!strcmp(key, "per_address")) ok = ini_long(value, 0, 1000000, &cfg->per_address);
        else if (!strcmp(key, "sendq")) ok = ini_long(value, 4096, 1L << 30, &cfg->sendq);
        else if (!strcmp(key, "registration_timeout")) ok = ini_long(value, 1, 3600, &cfg->registration_timeout_s);
        else if (!strcmp(key, "ping_interval")) ok = ini_long(value, 1, 86400, &cfg->ping_interval_s);
        else if (!strcmp(key, "ping_timeout")) ok = ini_long(value, 1, 86400, &cfg->ping_timeout_s);
        else if (!strcmp(key, "max_rooms_per_user")) ok = ini_long(value, 1, 1000, &cfg->max_rooms_per_user);
    } else if (!strcmp(section, "flood")) {
        if (!strcmp(key, "rate")) ok = ini_long(value, 1, 1000000, &cfg->flood_rate);
        else if (!strcmp(key, "burst")) ok = ini_long(value, 1, 1000000, &cfg->flood_burst);
    } else if (!strcmp(section, "rooms")) {
        if (!strcmp(key, "user_rooms")) ok = parse_bool(value, &cfg->user_rooms);
        else if (!strcmp(key, "history_memory")) ok = ini_long(value, 0, 100000, &cfg->history_memory);
    } else if (!strcmp(section, "protection")) {
        if (!strcmp(key, "rules_dir"))
            ok = STR(protection.rules_dir);
        else if (!strcmp(key, "rules_cache"))
            ok = STR(protection.rules_cache);
        else
            ok = protection_number(&cfg->protection, key, value);
    } else if (!strncmp(section, "room ", 5)) {
        ok = set_room(cfg, section + 5, key, value);
    }
    return ok;
}

static bool on_ini(void *ud, const char *section, const char *key, const char *value,
                   int lineno)
{
    (void)lineno;
    struct parse *p = ud;
    if (!key)
        return section_known(p->cfg, section);
    return on_entry(p, section, key, value);
}

bool config_load(struct config *cfg, const char *path)
{
    struct parse p = {cfg};
    return ini_read(path, on_ini, &p);
}
