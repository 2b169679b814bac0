/* Private-message consent and ignoring (docs/protocol.md): PMPOLICY,
 * PMACCEPT, PMDECLINE, IGNORE, UNIGNORE. */
#include <stdio.h>
#include <string.h>

#include "core/message.h"
#include "core/session.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"

static struct user *find_other(struct irc_client *c, const char *nick)
{
    struct user *u = user_find(nick);
    if (!u || !u->sess) {
        irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", nick);
        return NULL;
    }
    if (u == c->user) {
        irc_send(c, ":%s FAIL %s INVALID_TARGET %s :That is you", irc_cfg.server_name, "*", nick);
        return NULL;
    }
    return u;
}

enum sl_err cmd_pmpolicy(struct irc_client *c, struct irc_msg *m)
{
    struct session *s = c->user->sess;
    if (m->nparams > 0) {
        int p = session_pm_policy_parse(m->params[0]);
        if (p < 0) {
            irc_send(c, ":%s FAIL PMPOLICY INVALID_PARAMS %s :Use requests, everyone or nobody",
                     irc_cfg.server_name, m->params[0]);
            return SL_OK;
        }
        session_set_pm_policy(s, (enum pm_policy)p);
    }
    irc_send(c, ":%s NOTE PMPOLICY SET %s :Private messages: %s", irc_cfg.server_name,
             session_pm_policy_name(s->pm_policy), session_pm_policy_name(s->pm_policy));
    return SL_OK;
}

enum sl_err cmd_pmaccept(struct irc_client *c, struct irc_msg *m)
{
    struct user *from = find_other(c, m->params[0]);
    if (!from)
        return SL_OK;
    message_accept(c->user, from);
    irc_send(c, ":%s NOTE PMACCEPT ACCEPTED %s :You accepted private messages from %s",
             irc_cfg.server_name, from->nick, from->nick);
    irc_send_user(from, ":%s NOTE PRIVMSG PM_ACCEPTED %s :%s accepted your request",
                  irc_cfg.server_name, c->user->nick, c->user->nick);
    return SL_OK;
}

enum sl_err cmd_pmdecline(struct irc_client *c, struct irc_msg *m)
{
    struct user *from = find_other(c, m->params[0]);
    if (!from)
        return SL_OK;
    bool was_waiting = message_decline(c->user, from) == SL_OK;
    irc_send(c, ":%s NOTE PMDECLINE DECLINED %s :You declined private messages from %s",
             irc_cfg.server_name, from->nick, from->nick);
    if (was_waiting && !message_is_ignored(c->user, from))
        irc_send_user(from, ":%s NOTE PRIVMSG PM_DECLINED %s :%s did not accept your request",
                      irc_cfg.server_name, c->user->nick, c->user->nick);
    return SL_OK;
}

static void list_ignored(struct irc_client *c)
{
    const struct id_list *l = &c->user->sess->ignored;
    char line[400];
    size_t n = 0;
    line[0] = '\0';
    /* Only those online have a nick to show; the others stay ignored. */
    size_t pos = 0;
    for (struct user *u; (u = user_next(&pos)) != NULL;) {
        if (!u->sess || !session_list_has(l, u->sess->id))
            continue;
        int w = snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "", u->nick);
        if (w < 0 || (size_t)w >= sizeof line - n)
            break;
        n += (size_t)w;
    }
    irc_send(c, ":%s NOTE IGNORE LIST :%s", irc_cfg.server_name, line);
}

enum sl_err cmd_ignore(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams == 0 || !m->params[0][0]) {
        list_ignored(c);
        return SL_OK;
    }
    struct user *u = find_other(c, m->params[0]);
    if (!u)
        return SL_OK;
    session_ignore(c->user->sess, u->sess->id, true);
    /* An ignored person's waiting request lapses without a word to them. */
    struct pm_request *rq = session_request_find(c->user->sess, u->sess->id);
    if (rq)
        session_request_drop(c->user->sess, rq);
    irc_send(c, ":%s NOTE IGNORE ADDED %s :You will no longer see messages from %s",
             irc_cfg.server_name, u->nick, u->nick);
    return SL_OK;
}

enum sl_err cmd_unignore(struct irc_client *c, struct irc_msg *m)
{
    struct user *u = find_other(c, m->params[0]);
    if (!u)
        return SL_OK;
    session_ignore(c->user->sess, u->sess->id, false);
    irc_send(c, ":%s NOTE IGNORE REMOVED %s :You will see messages from %s again",
             irc_cfg.server_name, u->nick, u->nick);
    return SL_OK;
}
