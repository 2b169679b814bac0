#ifndef SALON_API_RULES_H
#define SALON_API_RULES_H

#include "lib/err.h"

struct conn;
struct http_request;

/* The staff endpoints for rules and lockdown under /api/v1/mod/ (rest is
 * the path after that prefix). The caller has checked the staff session
 * and CSRF token; actor is "staff:<name>" for the audit log. Returns
 * SL_ENOTFOUND for a path or method that is not one of them. */
enum sl_err api_rules_route(struct conn *c, const struct http_request *req, const char *actor,
                            const char *rest);

#endif
