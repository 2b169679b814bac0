#include "irc/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fanout.h"
#include "core/session.h"
#include "core/ticket.h"
#include "irc/numeric.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/utf8.h"

struct irc_config irc_cfg = {
    .server_name = "salon.local",
    .registration_timeout_s = 30,
    .ping_interval_s = 120,
    .ping_timeout_s = 60,
    .history_memory = 100,
    .chathistory_max = 100,
};

static struct irc_client *clients;

/* Registration states a command is valid in. */
enum { BEFORE_REG = 1, AFTER_REG = 2, ANY_STATE = 3 };

/* The command table (ngIRCd style): the dispatcher checks state and
 * parameter count once, so each handler starts with valid input. `cost` is
 * the flood penalty in units of one ordinary command. */
struct command {
    const char *name;
    irc_handler_fn *fn;
    uint8_t states;
    uint8_t min_params;
    uint8_t cost;
};

static const struct command commands[] = {
    {"CAP", cmd_cap, ANY_STATE, 1, 1},
    {"PASS", cmd_pass, BEFORE_REG, 1, 1},
    {"NICK", cmd_nick, ANY_STATE, 0, 1},
    {"USER", cmd_user, ANY_STATE, 4, 1},
    {"PING", cmd_ping, ANY_STATE, 1, 1},
    {"PONG", cmd_pong, ANY_STATE, 0, 0},
    {"QUIT", cmd_quit, ANY_STATE, 0, 0},
    {"MOTD", cmd_motd, AFTER_REG, 0, 2},
    {"LUSERS", cmd_lusers, AFTER_REG, 0, 1},
    {"JOIN", cmd_join, AFTER_REG, 1, 2},
    {"PMPOLICY", cmd_pmpolicy, AFTER_REG, 0, 1},
    {"REPORT", cmd_report, AFTER_REG, 2, 2},
    {"APPEAL", cmd_appeal, AFTER_REG, 1, 2},
    {"OPER", cmd_oper, AFTER_REG, 2, 5},
    {"AUTHENTICATE", cmd_authenticate, BEFORE_REG, 1, 5},
    {"PMACCEPT", cmd_pmaccept, AFTER_REG, 1, 1},
    {"PMDECLINE", cmd_pmdecline, AFTER_REG, 1, 1},
    {"IGNORE", cmd_ignore, AFTER_REG, 0, 1},
    {"UNIGNORE", cmd_unignore, AFTER_REG, 1, 1},
    {"PART", cmd_part, AFTER_REG, 1, 1},
    {"TOPIC", cmd_topic, AFTER_REG, 1, 1},
    {"NAMES", cmd_names, AFTER_REG, 0, 1},
    {"LIST", cmd_list, AFTER_REG, 0, 2},
    {"MODE", cmd_mode, AFTER_REG, 1, 1},
    {"KICK", cmd_kick, AFTER_REG, 2, 1},
    {"INVITE", cmd_invite, AFTER_REG, 2, 1},
    {"PRIVMSG", cmd_privmsg, AFTER_REG, 0, 1},
    {"NOTICE", cmd_notice, AFTER_REG, 0, 1},
    {"TAGMSG", cmd_tagmsg, AFTER_REG, 1, 1},
    {"AWAY", cmd_away, AFTER_REG, 0, 1},
    {"WHO", cmd_who, AFTER_REG, 0, 1},
    {"WHOIS", cmd_whois, AFTER_REG, 1, 1},
    {"CHATHISTORY", cmd_chathistory, AFTER_REG, 1, 2},
};

void irc_set_quit_reason(struct irc_client *c, const char *fmt, ...)
{
    if (c->quit_reason)
        return;
    char text[IRC_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    c->quit_reason = xstrndup(text, utf8_truncate(text, strlen(text), 300));
}

const char *irc_nick(const struct irc_client *c)
{
    return c->user->is_registered || c->has_nick ? c->user->nick : "*";
}

/* "@time=...Z " for a client that negotiated server-time (IRCv3: the tag
 * goes on every message the server sends it); returns the prefix length. */
static size_t time_prefix(const struct irc_client *c, char *out)
{
    if (!(c->caps & CAP_SERVER_TIME))
        return 0;
    memcpy(out, "@time=", 6);
    clock_iso8601(clock_wall_ms(), out + 6);
    out[6 + CLOCK_ISO_LEN] = ' ';
    return 7 + CLOCK_ISO_LEN;
}

void irc_send(struct irc_client *c, const char *fmt, ...)
{
    char line[IRC_LINE_MAX];
    size_t n = fmt[0] == '@' ? 0 : time_prefix(c, line);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += (size_t)m;
    if (n >= sizeof line)
        n = utf8_truncate(line, sizeof line - 1, sizeof line - 1);
    outq_push_line(c->out, line, n);
}

void irc_send_user(struct user *u, const char *fmt, ...)
{
    char line[IRC_LINE_MAX];
    size_t n = 0;
    if (u->wants & USER_WANTS_TIME) {
        memcpy(line, "@time=", 6);
        clock_iso8601(clock_wall_ms(), line + 6);
        line[6 + CLOCK_ISO_LEN] = ' ';
        n = 7 + CLOCK_ISO_LEN;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (m < 0 || !u->out)
        return;
    n += (size_t)m;
    if (n >= sizeof line)
        n = utf8_truncate(line, sizeof line - 1, sizeof line - 1);
    outq_push_line(u->out, line, n);
}

void irc_reply(struct irc_client *c, const char *numeric, const char *fmt, ...)
{
    char line[IRC_MSG_MAX * 2];
    size_t t = time_prefix(c, line);
    int n = (int)t + snprintf(line + t, sizeof line - t, ":%s %s %s ", irc_cfg.server_name,
                              numeric, irc_nick(c));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len >= sizeof line)
        len = utf8_truncate(line, sizeof line - 1, sizeof line - 1);
    outq_push_line(c->out, line, len);
}

struct irc_client *irc_client_new(struct outq *out, const uint8_t addr[16],
                                  const char *addr_text, enum irc_transport t)
{
    (void)addr_text;
    struct verdict v = policy_check(&(struct action){.kind = ACTION_CONNECT, .addr = addr});
    if (v.kind != VERDICT_ALLOW) {
        outq_printf(out, "ERROR :Closing Link: %s (%s)", addr_text,
                    v.reason ? v.reason : "Connection refused");
        outq_close(out, v.reason ? v.reason : "Connection refused");
        return NULL;
    }
    struct irc_client *c = xcalloc(1, sizeof *c);
    c->out = out;
    if (irc_cfg.sendq)
        out->limit = (uint32_t)irc_cfg.sendq;   /* WebSocket clients came from HTTP */
    c->refs = 1;
    memcpy(c->addr, addr, 16);
    c->transport = (uint8_t)t;
    c->created_ms = c->last_seen_ms = clock_mono_ms();
    char session[SESSION_ID_LEN + 1];
    ticket_new_session_id(session);
    c->user = user_new(out, session);
    memcpy(c->user->addr, addr, 16);
    c->next = clients;
    if (clients)
        clients->prev = c;
    clients = c;
    return c;
}

void irc_client_hold(struct irc_client *c)
{
    c->refs++;
}

void irc_client_release(struct irc_client *c)
{
    if (--c->refs > 0)
        return;
    user_free(c->user);
    free(c->quit_reason);
    free(c);
}

void irc_client_free(struct irc_client *c, const char *reason)
{
    if (!c)
        return;
    char text[IRC_MSG_MAX];
    if (c->quit_reason)
        snprintf(text, sizeof text, "%s", c->quit_reason);
    else
        snprintf(text, sizeof text, "%s", reason ? reason : "Connection closed");
    user_quit(c->user, text);
    session_detach(c->user->sess);
    c->user->sess = NULL;
    policy_connection_closed(c->addr);
    if (c->prev)
        c->prev->next = c->next;
    else
        clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->is_gone = true;
    c->out = NULL;
    c->user->out = NULL;
    irc_client_release(c);
}

void irc_client_farewell(struct irc_client *c, const char *reason)
{
    if (!c)
        return;
    const char *why = c->quit_reason ? c->quit_reason : reason;
    irc_send(c, "ERROR :Closing Link: %s (%s)", irc_nick(c), why ? why : "Closing");
}

int64_t irc_client_throttle_ms(const struct irc_client *c)
{
    int64_t now = clock_mono_ms();
    struct flood_clock probe = c->flood;
    struct verdict v = policy_check(&(struct action){.kind = ACTION_COMMAND,
                                                     .clock = &probe, .cost = 1,
                                                     .now_ms = now});
    return v.kind == VERDICT_THROTTLE ? v.retry_ms : 0;
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcasecmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* The command token of a raw line that cannot be parsed (it holds a NUL),
 * upper-cased, or "*"; for naming it in an error reply. */
static const char *command_of(const char *line)
{
    static char cmd[32];
    const char *p = line;
    if (*p == '@')
        p += strcspn(p, " ");
    p += strspn(p, " ");
    if (*p == ':') {
        p += strcspn(p, " ");
        p += strspn(p, " ");
    }
    size_t n = 0;
    for (; n < sizeof cmd - 1 && ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
                                  (p[n] >= '0' && p[n] <= '9')); n++)
        cmd[n] = (char)(p[n] >= 'a' && p[n] <= 'z' ? p[n] - 32 : p[n]);
    cmd[n] = '\0';
    return n ? cmd : "*";
}

/* One place maps a handler's result to the wire (pattern 4). */
static enum sl_err finish(struct irc_client *c, enum sl_err err)
{
    if (err == SL_ECLOSED) {
        outq_close(c->out, c->quit_reason ? c->quit_reason : "Client quit");
        return SL_ECLOSED;
    }
    return SL_OK;
}

enum sl_err irc_client_line(struct irc_client *c, char *line, size_t len)
{
    int64_t now = clock_mono_ms();
    struct irc_msg m;

    /* Flood control first: a throttled line is not consumed. PONG answers
     * the server and is free. */
    bool is_pong = len >= 4 && strncasecmp(line, "PONG", 4) == 0;
    if (!is_pong) {
        struct verdict v = policy_check(&(struct action){.kind = ACTION_COMMAND,
                                                         .clock = &c->flood, .cost = 1,
                                                         .now_ms = now});
        if (v.kind == VERDICT_THROTTLE)
            return SL_EAGAIN;
    }
    c->last_seen_ms = now;
    c->ping_sent_ms = 0;

    if (len > IRC_LINE_MAX) {
        irc_reply(c, ERR_INPUTTOOLONG, ":Input line was too long");
        return SL_OK;
    }
    line[len] = '\0';
    if (memchr(line, '\0', len)) {
        irc_reply(c, ERR_UNKNOWNERROR, "%s :Line contains a NUL byte and was ignored",
                  command_of(line));
        return SL_OK;
    }
    bool is_utf8 = utf8_valid(line, len);
    enum sl_err err = irc_parse(line, len, &m);
    if (err == SL_ELIMIT) {
        irc_reply(c, ERR_INPUTTOOLONG, ":Input line was too long");
        return SL_OK;
    }
    if (err) {
        /* Broken syntax (a bad tag key, a bad command token). Say so
         * rather than drop it silently; a blank line gets no answer. */
        if (strspn(line, " ") < len)
            irc_reply(c, ERR_UNKNOWNERROR, "* :Malformed line was ignored");
        return SL_OK;
    }
    if (!is_utf8) {
        /* Documented choice (IRCv3 UTF8ONLY): reject, never guess. */
        irc_send(c, ":%s FAIL %s INVALID_UTF8 :Message rejected: text must be UTF-8",
                 irc_cfg.server_name, m.command);
        return SL_OK;
    }
    const struct command *cmd = find_command(m.command);
    if (!cmd) {
        if (c->user->is_registered)
            irc_reply(c, ERR_UNKNOWNCOMMAND, "%s :Unknown command", m.command);
        else
            irc_reply(c, ERR_NOTREGISTERED, ":You have not registered");
        return SL_OK;
    }
    /* Extra penalty for heavy commands, on top of the unit already taken. */
    if (cmd->cost > 1) {
        struct flood_clock *fc = &c->flood;
        policy_check(&(struct action){.kind = ACTION_COMMAND, .clock = fc,
                                      .cost = cmd->cost - 1u, .now_ms = now});
    }
    uint8_t state = c->user->is_registered ? AFTER_REG : BEFORE_REG;
    if (!(cmd->states & state)) {
        if (state == BEFORE_REG)
            irc_reply(c, ERR_NOTREGISTERED, ":You have not registered");
        else
            irc_reply(c, ERR_ALREADYREGISTERED, ":You may not reregister");
        return SL_OK;
    }
    if (m.nparams < cmd->min_params) {
        irc_reply(c, ERR_NEEDMOREPARAMS, "%s :Not enough parameters", cmd->name);
        return SL_OK;
    }
    return finish(c, cmd->fn(c, &m));
}

/* Registration and ping timeouts, checked once a second for every client
 * (O(clients) per second; a timer per connection would cost more memory). */
void irc_sweep(int64_t now)
{
    for (struct irc_client *c = clients; c; c = c->next) {
        if (c->out->is_closing)
            continue;
        if (!c->user->is_registered) {
            if (now - c->created_ms >= (int64_t)irc_cfg.registration_timeout_s * 1000) {
                irc_set_quit_reason(c, "Registration timed out");
                outq_close(c->out, "Registration timed out");
            }
            continue;
        }
        if (c->ping_sent_ms) {
            if (now - c->ping_sent_ms >= (int64_t)irc_cfg.ping_timeout_s * 1000) {
                irc_set_quit_reason(c, "Ping timeout: %d seconds",
                         irc_cfg.ping_timeout_s);
                outq_close(c->out, "Ping timeout");
            }
        } else if (now - c->last_seen_ms >= (int64_t)irc_cfg.ping_interval_s * 1000) {
            irc_send(c, "PING :%s", irc_cfg.server_name);
            c->ping_sent_ms = now;
        }
    }
}

void irc_configure(const struct irc_config *cfg)
{
    irc_cfg = *cfg;
}

void irc_init(void)
{
    fanout_set_formatter(irc_format_event);
}
