#ifndef SALON_CORE_REPORT_H
#define SALON_CORE_REPORT_H

#include <stdint.h>

#include "lib/err.h"

struct store;
struct user;

/* Reports by users, with the evidence captured on the server when they are
 * made (docs/moderation.md). A report is written durably before anyone is
 * told it was received. Open reports are kept in memory for the queue. */

struct report {
    int64_t id;
    int64_t time_ms;
    char *category;
    int severity;
    char *reporter, *reporter_nick;
    char *reported, *reported_nick;
    char *where, *msgid, *comment;
    char *evidence;                 /* JSON array of messages */
    char *status;                   /* "open", "dismissed", "actioned" */
    char *automatic;                /* "" for people's reports; JSON for
                                     * the rules engine's (see below) */
    struct report *next;
};

void report_init(struct store *st);
/* Severity of a category, or -1 when the category is unknown. */
int report_severity(const char *category);

/* Called once the report is on disk (err SL_OK, id set) or failed. When a
 * create function gets done == NULL, it writes synchronously instead and
 * returns the id in *id_now (SL_EIO when the write failed). */
typedef void report_done_fn(enum sl_err err, int64_t id, void *ud);

/* Reports `reported` (may be NULL when target is a msgid) or the message
 * msgid (may be NULL), from `by`. Captures the evidence now. Returns
 * SL_ENOTFOUND when the msgid is unknown or not visible to `by`,
 * SL_EINVAL for an unknown category; otherwise SL_OK and done() follows. */
enum sl_err report_create(struct user *by, struct user *reported, const char *msgid,
                          const char *category, const char *comment,
                          report_done_fn *done, void *ud, int64_t *id_now);

/* An appeal against action_id, from `who` (a session id, or a device id
 * when the person cannot connect): queued like a report (category
 * "appeal") for staff to decide. */
enum sl_err report_create_appeal(const char *who, int64_t action_id, const char *text,
                                 report_done_fn *done, void *ud, int64_t *id_now);

/* A report made by the server itself (docs/rules.md): a rule flagged or
 * held a message, held a room's name, or a conversation's risk score
 * crossed the review threshold. Its reporter is "salon" shown as
 * "(automatic)". automatic is a JSON object kept with the report:
 *   "rule": {"id", "name"}            the rule that acted, if one did
 *   "held": {"kind": "room"|"private", "target", "target_session",
 *            "source", "command", "text", "msgid", "time_ms"}
 *                                      a message kept for review
 *   "pending_room": "<room>"           a room waiting for approval
 *   "risk": N                          the conversation's score
 * The evidence is the recent lines of `context` (may be NULL), with the
 * held message, if any, added as the last line. Written asynchronously. */
struct auto_report {
    const char *category;
    int severity;                   /* 0: the category's */
    const char *reported;           /* session id */
    const char *reported_nick;
    const char *where;              /* "#room" or "private" */
    struct history *context;
    const char *msgid;              /* a delivered message flagged, or NULL */
    const char *comment;
    const char *automatic;          /* JSON object text */
    const char *held_text;          /* the held message's text, for the evidence */
    const char *held_msgid;
    const char *held_target;
};
enum sl_err report_create_auto(const struct auto_report *ar);

/* Open reports, newest first in the list (the API sorts). */
struct report *report_list(void);
struct report *report_find(int64_t id);
/* Closes a report (status "dismissed" or "actioned"). */
void report_close(struct report *r, const char *status, const char *resolution);

#endif
