#ifndef SALON_API_JSON_H
#define SALON_API_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "net/conn.h"
#include "transport/http.h"

/* What every API module needs to answer (docs/api.md). Private to api/. */

/* Sends doc as the JSON body (and frees it). headers: extra "Name: value\r\n"
 * lines, or NULL for "Cache-Control: no-store". */
void api_send_json(struct conn *c, int status, json_t *doc, const char *headers);
/* Sends {"error": {"code", "field", "message"}}; field may be NULL. */
void api_error(struct conn *c, int status, const char *code, const char *field,
               const char *message, const char *headers);
/* The request body as a JSON object, or NULL after answering 415/400. */
json_t *api_body_json(struct conn *c, const struct http_request *req);
/* The value of cookie name from the Cookie header into out; false when
 * absent or longer than cap - 1. */
bool api_cookie(const struct http_request *req, const char *name, char *out, size_t cap);

#endif
