#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/room.h"
#include "core/session.h"
#include "core/ticket.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"
#include "lib/clock.h"

#define SALON_VERSION "salon-0.1"

/* CAP LS order; bit i of the caps mask is cap_names[i] (see client.h). */
static const char *const cap_names[] = {
    "away-notify", "batch", "draft/chathistory", "echo-message",
    "message-tags", "multi-prefix", "server-time", "userhost-in-names",
    "extended-join", "draft/message-redaction", "sasl=PLAIN",
};
#define NCAPS (sizeof cap_names / sizeof cap_names[0])

static void sync_wants(struct irc_client *c)
{
    uint8_t w = 0;
    if (c->caps & CAP_SERVER_TIME)
        w |= USER_WANTS_TIME;
    if (c->caps & CAP_MESSAGE_TAGS)
        w |= USER_WANTS_TAGS;
    if (c->caps & CAP_ECHO_MESSAGE)
        w |= USER_WANTS_ECHO;
    if (c->caps & CAP_AWAY_NOTIFY)
        w |= USER_WANTS_AWAY_NOTIFY;
    if (c->caps & CAP_EXTENDED_JOIN)
        w |= USER_WANTS_EXTENDED_JOIN;
    if (c->caps & CAP_MESSAGE_REDACTION)
        w |= USER_WANTS_REDACTION;
    c->user->wants = w;
}

/* A capability's name without its value ("sasl=PLAIN" is "sasl"). */
static int cap_index(const char *name)
{
    for (size_t i = 0; i < NCAPS; i++) {
        size_t n = strcspn(cap_names[i], "=");
        if (strncmp(cap_names[i], name, n) == 0 && name[n] == '\0')
            return (int)i;
    }
    return -1;
}

static void cap_list(struct irc_client *c, const char *sub, uint32_t mask)
{
    char list[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < NCAPS; i++) {
        if (!(mask & (1u << i)))
            continue;
        /* Values ("sasl=PLAIN") only in CAP LS (IRCv3 capability negotiation 302). */
        int len = strcmp(sub, "LS") == 0 ? (int)strlen(cap_names[i])
                                         : (int)strcspn(cap_names[i], "=");
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%.*s", n ? " " : "", len,
                              cap_names[i]);
    }
    irc_send(c, ":%s CAP %s %s :%s", irc_cfg.server_name, irc_nick(c), sub, list);
}

enum sl_err cmd_cap(struct irc_client *c, struct irc_msg *m)
{
    const char *sub = m->params[0];
    if (strcasecmp(sub, "LS") == 0) {
        if (!c->user->is_registered)
            c->is_cap_negotiating = true;
        cap_list(c, "LS", (1u << NCAPS) - 1);
    } else if (strcasecmp(sub, "LIST") == 0) {
        cap_list(c, "LIST", c->caps);
    } else if (strcasecmp(sub, "REQ") == 0) {
        if (m->nparams < 2) {
            irc_reply(c, ERR_NEEDMOREPARAMS, "CAP :Not enough parameters");
            return SL_OK;
        }
        if (!c->user->is_registered)
            c->is_cap_negotiating = true;
        /* All or nothing (IRCv3 capability negotiation, CAP REQ). */
        char buf[512];
        snprintf(buf, sizeof buf, "%s", m->params[1]);
        uint32_t add = 0, del = 0;
        bool ok = true;
        char *save = NULL;
        for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            bool minus = tok[0] == '-';
            int i = cap_index(minus ? tok + 1 : tok);
            if (i < 0) {
                ok = false;
                break;
            }
            if (minus)
                del |= 1u << i;
            else
                add |= 1u << i;
        }
        if (ok) {
            c->caps = (c->caps | add) & ~del;
            sync_wants(c);
        }
        irc_send(c, ":%s CAP %s %s :%s", irc_cfg.server_name, irc_nick(c),
                 ok ? "ACK" : "NAK", m->params[1]);
    } else if (strcasecmp(sub, "END") == 0) {
        if (!c->user->is_registered && c->is_cap_negotiating) {
            c->is_cap_negotiating = false;
            return irc_try_register(c);
        }
    } else {
        irc_reply(c, "410", "%s :Invalid CAP command", sub);
    }
    return SL_OK;
}

enum sl_err cmd_pass(struct irc_client *c, struct irc_msg *m)
{
    struct ticket t;
    enum sl_err err = ticket_verify(m->params[0], clock_wall_ms(), &t);
    if (err) {
        irc_reply(c, ERR_PASSWDMISMATCH, ":%s", err == SL_EPERM
                  ? "Your session ticket has expired: enter again from the web page"
                  : "Invalid session ticket");
        irc_set_quit_reason(c, "%s",
                 err == SL_EPERM ? "Session ticket expired" : "Invalid session ticket");
        return SL_ECLOSED;
    }
    struct user *u = c->user;
    snprintf(u->session, sizeof u->session, "%s", t.session);
    snprintf(u->host, sizeof u->host, "%.8s.salon", t.session);
    u->profile = t.profile;
    c->has_ticket = true;
    c->ticket_expires_ms = t.expires_ms;
    snprintf(u->device, sizeof u->device, "%s", t.device);
    return SL_OK;
}

enum sl_err cmd_nick(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams < 1 || !m->params[0][0]) {
        irc_reply(c, ERR_NONICKNAMEGIVEN, ":No nickname given");
        return SL_OK;
    }
    const char *nick = m->params[0];
    if (!user_nick_valid(nick)) {
        irc_reply(c, ERR_ERRONEUSNICKNAME, "%s :Erroneous nickname", nick);
        return SL_OK;
    }
    struct user *me = c->user;
    struct verdict v = policy_check(&(struct action){.kind = ACTION_NICK, .nick = nick,
                                                     .session = me->session,
                                                     .device = me->device, .addr = me->addr});
    if (v.kind != VERDICT_ALLOW) {
        irc_reply(c, ERR_ERRONEUSNICKNAME, "%s :%s", nick, v.reason ? v.reason : "Nickname refused");
        return SL_OK;
    }
    if (user_set_nick(c->user, nick) == SL_EEXIST) {
        irc_reply(c, ERR_NICKNAMEINUSE, "%s :Nickname is already in use", nick);
        return SL_OK;
    }
    if (!c->user->is_registered) {
        c->has_nick = true;
        return irc_try_register(c);
    }
    return SL_OK;
}

enum sl_err cmd_user(struct irc_client *c, struct irc_msg *m)
{
    if (c->user->is_registered) {
        irc_reply(c, ERR_ALREADYREGISTERED, ":You may not reregister");
        return SL_OK;
    }
    struct user *u = c->user;
    /* The ident is shown to others; keep it to plain characters. */
    size_t n = 0;
    for (const char *p = m->params[0]; *p && n < USER_IDENT_MAX; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '-' || *p == '.')
            u->ident[n++] = *p;
    u->ident[n] = '\0';
    if (n == 0)
        snprintf(u->ident, sizeof u->ident, "u");
    /* The real name others see is the server's record of the profile (set
     * at registration), never the client's text. */
    (void)m->params[3];
    c->has_user = true;
    return irc_try_register(c);
}

enum sl_err cmd_ping(struct irc_client *c, struct irc_msg *m)
{
    irc_send(c, ":%s PONG %s :%s", irc_cfg.server_name, irc_cfg.server_name, m->params[0]);
    return SL_OK;
}

enum sl_err cmd_pong(struct irc_client *c, struct irc_msg *m)
{
    (void)c;
    (void)m;
    return SL_OK;   /* irc_client_line already reset the ping clock */
}

enum sl_err cmd_quit(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams > 0 && m->params[0][0])
        irc_set_quit_reason(c, "Quit: %.300s", m->params[0]);
    else
        irc_set_quit_reason(c, "Quit");
    return SL_ECLOSED;
}

static void send_lusers(struct irc_client *c)
{
    irc_reply(c, RPL_LUSERCLIENT, ":There are %zu users and 0 services on 1 server",
              user_count());
}

static void send_motd(struct irc_client *c)
{
    FILE *f = irc_cfg.motd_path && irc_cfg.motd_path[0] ? fopen(irc_cfg.motd_path, "r") : NULL;
    irc_reply(c, RPL_MOTDSTART, ":- %s Message of the day -", irc_cfg.server_name);
    if (f) {
        char line[400];
        int lines = 0;
        while (fgets(line, sizeof line, f) && lines++ < 100) {
            line[strcspn(line, "\r\n")] = '\0';
            irc_reply(c, RPL_MOTD, ":- %s", line);
        }
        fclose(f);
    } else {
        irc_reply(c, RPL_MOTD, ":- Bienvenue sur salon. Welcome to salon.");
        irc_reply(c, RPL_MOTD, ":- Be kind. Private messages need consent (PMACCEPT), and");
        irc_reply(c, RPL_MOTD, ":- you can IGNORE anyone. See the house rules on the web page.");
    }
    irc_reply(c, RPL_ENDOFMOTD, ":End of /MOTD command.");
}

enum sl_err irc_try_register(struct irc_client *c)
{
    struct user *u = c->user;
    if (u->is_registered || !c->has_nick || !c->has_user || c->is_cap_negotiating)
        return SL_OK;
    if (!c->has_ticket && !irc_cfg.open_registration && !c->staff[0]) {
        irc_reply(c, ERR_PASSWDMISMATCH,
                  ":A session ticket is required: enter from the web page, then use PASS <ticket>");
        irc_set_quit_reason(c, "Session ticket required");
        return SL_ECLOSED;
    }
    /* The nick may have been taken while we waited for USER or CAP END. */
    struct user *holder = user_find(u->nick);
    if (holder && holder != u) {
        irc_reply(c, ERR_NICKNAMEINUSE, "%s :Nickname is already in use", u->nick);
        c->has_nick = false;
        return SL_OK;
    }
    struct verdict v = policy_check(&(struct action){.kind = ACTION_REGISTER, .nick = u->nick,
                                                     .session = u->session, .device = u->device,
                                                     .addr = u->addr});
    if (v.kind != VERDICT_ALLOW) {
        bool banned = v.code && !strcmp(v.code, "banned");
        irc_reply(c, banned ? "465" : ERR_PASSWDMISMATCH, ":%s",
                  v.reason ? v.reason : "Entry refused");
        irc_set_quit_reason(c, "%s", v.reason ? v.reason : "Entry refused");
        return SL_ECLOSED;
    }
    /* Without a ticket (open registration) the session begins now: the
     * limits on new sessions (links, mentions, first contacts) apply. */
    if (!u->profile.session_created_ms)
        u->profile.session_created_ms = clock_wall_ms();
    u->sess = session_get(u->session, &u->profile, c->ticket_expires_ms, c->has_ticket);
    session_attach(u->sess);
    /* A returning session keeps the profile it entered with. */
    u->profile = u->sess->profile;
    char line[64];
    session_profile_line(&u->profile, line, sizeof line);
    free(u->realname);
    u->realname = strdup(line);
    user_register(u);
    char mask[USER_MASK_MAX], created[CLOCK_ISO_LEN + 1];
    irc_reply(c, RPL_WELCOME, ":Welcome to salon, %s", user_mask(u, mask));
    irc_reply(c, RPL_YOURHOST, ":Your host is %s, running version %s", irc_cfg.server_name,
              SALON_VERSION);
    irc_reply(c, RPL_CREATED, ":This server was created %s",
              clock_iso8601(irc_cfg.started_wall_ms, created));
    irc_reply(c, RPL_MYINFO, "%s %s i bklimnotv", irc_cfg.server_name, SALON_VERSION);
    irc_reply(c, RPL_ISUPPORT,
              "AWAYLEN=%d CASEMAPPING=ascii CHANLIMIT=#:%d CHANMODES=b,k,lW,imnt "
              "CHANNELLEN=%d CHANTYPES=# CHATHISTORY=%u ELIST= :are supported by this server",
              AWAY_MAX, 20, ROOM_NAME_MAX, irc_cfg.chathistory_max);
    irc_reply(c, RPL_ISUPPORT,
              "KICKLEN=300 MAXLIST=b:%d MODES=4 MSGREFTYPES=msgid,timestamp NETWORK=salon "
              "NICKLEN=%d PREFIX=(ov)@+ TOPICLEN=%d UTF8ONLY :are supported by this server",
              ROOM_BANS_MAX, NICK_MAX, ROOM_TOPIC_MAX);
    send_lusers(c);
    send_motd(c);
    return SL_OK;
}

enum sl_err cmd_motd(struct irc_client *c, struct irc_msg *m)
{
    (void)m;
    send_motd(c);
    return SL_OK;
}

enum sl_err cmd_lusers(struct irc_client *c, struct irc_msg *m)
{
    (void)m;
    send_lusers(c);
    return SL_OK;
}
