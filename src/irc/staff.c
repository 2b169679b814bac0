/* Staff on IRC: OPER, and SASL PLAIN (IRCv3 sasl-3.1) for staff
 * accounts (docs/moderation.md). Users enter with tickets, not SASL. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/audit.h"
#include "core/staff.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"

/* IRCv3 SASL: AUTHENTICATE payloads come in chunks of 400 bytes; a PLAIN
 * payload of a staff name and passphrase fits in one. */
#define SASL_CHUNK 400

static void staff_logged_in(struct irc_client *c, const char *name, const char *role,
                            const char *how)
{
    snprintf(c->staff, sizeof c->staff, "%s", name);
    char actor[64];
    snprintf(actor, sizeof actor, "staff:%s", name);
    audit_log(actor, "irc_login", c->user->nick, "%s (%s)", how, role);
}

enum sl_err cmd_oper(struct irc_client *c, struct irc_msg *m)
{
    char role[16];
    if (!staff_check_password(m->params[0], m->params[1], role)) {
        irc_reply(c, ERR_PASSWDMISMATCH, ":Password incorrect");
        return SL_OK;
    }
    staff_logged_in(c, m->params[0], role, "OPER");
    irc_reply(c, "381", ":You are now a salon %s", role);
    return SL_OK;
}

enum sl_err cmd_authenticate(struct irc_client *c, struct irc_msg *m)
{
    const char *arg = m->params[0];
    if (!(c->caps & CAP_SASL)) {
        irc_reply(c, "904", ":SASL authentication failed (request the sasl capability)");
        return SL_OK;
    }
    if (c->user->is_registered || c->staff[0]) {
        irc_reply(c, "907", ":You have already authenticated");
        return SL_OK;
    }
    if (!strcmp(arg, "*")) {
        c->is_sasl_started = false;
        irc_reply(c, "906", ":SASL authentication aborted");
        return SL_OK;
    }
    if (!c->is_sasl_started) {
        if (strcasecmp(arg, "PLAIN") != 0) {
            irc_reply(c, "908", "PLAIN :are available SASL mechanisms");
            irc_reply(c, "904", ":SASL authentication failed");
            return SL_OK;
        }
        c->is_sasl_started = true;
        irc_send(c, "AUTHENTICATE +");
        return SL_OK;
    }
    c->is_sasl_started = false;
    unsigned char raw[SASL_CHUNK];
    size_t len = 0;
    if (strlen(arg) >= SASL_CHUNK ||
        sodium_base642bin(raw, sizeof raw - 1, arg, strlen(arg), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        irc_reply(c, "904", ":SASL authentication failed");
        return SL_OK;
    }
    raw[len] = '\0';
    /* authzid \0 authcid \0 passwd */
    const char *authzid = (const char *)raw;
    const char *authcid = memchr(raw, '\0', len) ? authzid + strlen(authzid) + 1 : NULL;
    const char *passwd = authcid && authcid < (const char *)raw + len
                             ? authcid + strlen(authcid) + 1 : NULL;
    char role[16];
    bool ok = passwd && passwd <= (const char *)raw + len &&
              (!authzid[0] || !strcmp(authzid, authcid)) &&
              staff_check_password(authcid, passwd, role);
    if (ok) {
        staff_logged_in(c, authcid, role, "SASL PLAIN");
        irc_reply(c, "900", "%s %s :You are now logged in as %s", irc_nick(c), authcid,
                  authcid);
        irc_reply(c, "903", ":SASL authentication successful");
    } else {
        irc_reply(c, "904", ":SASL authentication failed");
    }
    sodium_memzero(raw, sizeof raw);
    return SL_OK;
}
