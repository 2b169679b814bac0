/* REPORT and APPEAL (docs/moderation.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/report.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"

struct report_wait {
    struct irc_client *c;
    bool is_appeal;
};

/* The acknowledgement comes only here, once the report is on disk. */
static void report_stored(enum sl_err err, int64_t id, void *ud)
{
    struct report_wait *w = ud;
    struct irc_client *c = w->c;
    const char *what = w->is_appeal ? "APPEAL" : "REPORT";
    if (!c->is_gone) {
        if (err == SL_OK)
            irc_send(c, ":%s NOTE %s RECEIVED %lld :%s #%lld received; a moderator will look at it",
                     irc_cfg.server_name, what, (long long)id,
                     w->is_appeal ? "Appeal" : "Report", (long long)id);
        else
            irc_send(c, ":%s FAIL %s TEMPORARY_ERROR :Your %s could not be saved; please try again",
                     irc_cfg.server_name, what, w->is_appeal ? "appeal" : "report");
    }
    irc_client_release(c);
    free(w);
}

enum sl_err cmd_report(struct irc_client *c, struct irc_msg *m)
{
    const char *target = m->params[0], *category = m->params[1];
    const char *comment = m->nparams > 2 ? m->params[2] : "";
    if (report_severity(category) < 0 || !strcmp(category, "appeal")) {
        irc_send(c, ":%s FAIL REPORT INVALID_CATEGORY %s :Categories: child_safety "
                 "sexual_violence threat hate harassment illegal spam other",
                 irc_cfg.server_name, category);
        return SL_OK;
    }
    struct user *reported = user_find(target);
    if (reported == c->user) {
        irc_send(c, ":%s FAIL REPORT INVALID_TARGET %s :That is you", irc_cfg.server_name, target);
        return SL_OK;
    }
    struct report_wait *w = calloc(1, sizeof *w);
    if (!w)
        return SL_OK;
    w->c = c;
    irc_client_hold(c);
    enum sl_err err = report_create(c->user, reported, reported ? NULL : target, category,
                                    comment, report_stored, w, NULL);
    if (err) {
        irc_send(c, ":%s FAIL REPORT UNKNOWN_TARGET %s :No such person or recent message",
                 irc_cfg.server_name, target);
        irc_client_release(c);
        free(w);
    }
    return SL_OK;
}

enum sl_err cmd_appeal(struct irc_client *c, struct irc_msg *m)
{
    char *end = NULL;
    long long action = strtoll(m->params[0], &end, 10);
    if (*end || action <= 0) {
        irc_send(c, ":%s FAIL APPEAL INVALID_PARAMS %s :APPEAL <action id> :<your words>",
                 irc_cfg.server_name, m->params[0]);
        return SL_OK;
    }
    struct report_wait *w = calloc(1, sizeof *w);
    if (!w)
        return SL_OK;
    w->c = c;
    w->is_appeal = true;
    irc_client_hold(c);
    report_create_appeal(c->user->session, action, m->nparams > 1 ? m->params[1] : "",
                         report_stored, w, NULL);
    return SL_OK;
}
