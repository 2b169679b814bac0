#ifndef SALON_IRC_CLIENT_H
#define SALON_IRC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/user.h"
#include "irc/irc.h"
#include "irc/msg.h"
#include "policy/gate.h"

/* Private to irc/: the protocol state of one connected client. The person
 * behind it is c->user (core/). */

/* IRCv3 capabilities (CAP LS order is the order of cap_names in login.c). */
enum {
    CAP_AWAY_NOTIFY = 1 << 0,
    CAP_BATCH = 1 << 1,
    CAP_CHATHISTORY = 1 << 2,
    CAP_ECHO_MESSAGE = 1 << 3,
    CAP_MESSAGE_TAGS = 1 << 4,
    CAP_MULTI_PREFIX = 1 << 5,
    CAP_SERVER_TIME = 1 << 6,
    CAP_USERHOST_IN_NAMES = 1 << 7,
    CAP_EXTENDED_JOIN = 1 << 8,
    CAP_MESSAGE_REDACTION = 1 << 9,
    CAP_SASL = 1 << 10,
};

struct irc_client {
    struct user *user;
    struct outq *out;
    struct irc_client *prev, *next;     /* every client, for the sweep */
    struct flood_clock flood;
    int64_t last_seen_ms;               /* monotonic, last line received */
    int64_t ping_sent_ms;               /* monotonic; 0: no PING waiting */
    int64_t created_ms;                 /* monotonic */
    int64_t ticket_expires_ms;          /* wall clock; 0 without a ticket */
    char staff[33];                     /* staff name after OPER, or "" */
    uint32_t caps;
    uint32_t refs;                      /* 1 + storage queries in flight */
    uint8_t addr[16];
    uint8_t transport;                  /* enum irc_transport */
    bool has_nick, has_user, is_cap_negotiating, has_ticket;
    bool is_gone;                       /* connection closed; awaiting refs */
    bool is_sasl_started;               /* AUTHENTICATE PLAIN sent, payload next */
    char *quit_reason;                  /* set when the client is leaving */
};

extern struct irc_config irc_cfg;

/* Records why c is leaving (first reason wins), shown to its rooms. */
void irc_set_quit_reason(struct irc_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends a line from the server to any registered user (another client's
 * queue), with @time when that user negotiated server-time. */
void irc_send_user(struct user *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends ":server <numeric> <nick> <fmt...>" to c. */
void irc_reply(struct irc_client *c, const char *numeric, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a raw line (no CRLF). */
void irc_send(struct irc_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The nick to address c by in replies ("*" before registration). */
const char *irc_nick(const struct irc_client *c);

/* Handlers: one file per family. Each returns SL_OK, or SL_ECLOSED when
 * the client must be disconnected (QUIT, failed entry). */
typedef enum sl_err irc_handler_fn(struct irc_client *c, struct irc_msg *m);

irc_handler_fn cmd_cap, cmd_pass, cmd_nick, cmd_user, cmd_ping, cmd_pong, cmd_quit;
irc_handler_fn cmd_motd, cmd_lusers;
irc_handler_fn cmd_pmpolicy, cmd_pmaccept, cmd_pmdecline, cmd_ignore, cmd_unignore;
irc_handler_fn cmd_report, cmd_appeal, cmd_oper, cmd_authenticate;
irc_handler_fn cmd_join, cmd_part, cmd_topic, cmd_names, cmd_list, cmd_mode, cmd_kick,
    cmd_invite;
irc_handler_fn cmd_privmsg, cmd_notice, cmd_tagmsg, cmd_away;
irc_handler_fn cmd_who, cmd_whois;
irc_handler_fn cmd_chathistory;

/* Asks the policy gate about a topic or away text (kind ACTION_TOPIC or
 * ACTION_AWAY; r: the room for a topic). On refusal tells the client
 * "FAIL <verb> TOPIC_BLOCKED|AWAY_BLOCKED <about> :<reason>" and returns
 * false. A flag by a rule goes to the moderation queue. */
bool irc_text_allowed(struct irc_client *c, int kind, struct room *r, const char *text,
                      const char *verb, const char *about);
/* Finishes registration when NICK, USER (and CAP END) are all in. */
enum sl_err irc_try_register(struct irc_client *c);
/* Sends NAMES for one room (353 + 366). */
void irc_send_names(struct irc_client *c, struct room *r);
/* The fan-out formatter registered with core (format.c). */
size_t irc_format_event(char *out, size_t cap, const struct event *ev, unsigned tags);
/* Keeps c alive across an asynchronous storage query. */
void irc_client_hold(struct irc_client *c);
void irc_client_release(struct irc_client *c);

#endif
