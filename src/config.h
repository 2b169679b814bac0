#ifndef SALON_CONFIG_H
#define SALON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/room.h"

/* The server's settings: defaults, then the INI file, then flags. Every key
 * is documented in salon.conf.example and docs/configuration.md. */
#define CONFIG_ROOMS_MAX 256

struct config_room {
    char name[ROOM_NAME_MAX + 1];
    char topic[ROOM_TOPIC_MAX + 1];
    enum room_category category;
};

struct config {
    char server_name[64];
    char data_dir[1024];
    char log_level[16];
    char motd_file[1024];
    char listen_irc[256];
    char listen_http[256];
    char web_root[1024];
    bool open_registration;
    long ticket_ttl_s;
    long age_lock_s;
    bool secure_cookies;
    long max_connections;
    long per_address;
    long sendq;
    long registration_timeout_s;
    long ping_interval_s;
    long ping_timeout_s;
    long max_rooms_per_user;
    long flood_rate;
    long flood_burst;
    bool user_rooms;
    long history_memory;
    struct config_protection {      /* [protection] (docs/rules.md) */
        char rules_dir[1024];
        char rules_cache[1024];     /* "": <data_dir>/rules-cache */
        long friction_messages;
        long risk_tip, risk_review, risk_restrict, session_review;
        long risk_half_life_s;
        long first_contacts_per_hour, first_contacts_new;
        long new_session_s;
        long new_links_max, new_mentions_max;
        long messages_per_minute;
        long duplicate_targets, duplicate_sessions, duplicate_window_s;
        long connect_per_minute, connect_prefix_per_minute;
        long pow_bits;
    } protection;
    struct config_room rooms[CONFIG_ROOMS_MAX];
    size_t nrooms;
    bool rooms_are_default;
};

void config_defaults(struct config *cfg);
/* Reads path into cfg; returns false (after printing why) on any error:
 * an unknown section or key, or a value out of range, is an error, so a
 * typo never silently falls back to a default. */
bool config_load(struct config *cfg, const char *path);

#endif
