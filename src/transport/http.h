#ifndef SALON_TRANSPORT_HTTP_H
#define SALON_TRANSPORT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"
#include "net/conn.h"

/* HTTP/1.1 for the web listener: static files from web_root, /healthz,
 * the WebSocket upgrade on /irc (then transport/ws.c takes over), and a
 * small route table for the JSON API. Requests are parsed with
 * libhttp-parser, whose types stay inside http.c. One request is handled
 * at a time, in order, so pipelined requests get their responses in
 * order; every response is queued before the next request is read. */

struct http_config {
    const char *web_root;       /* NULL or "": no static files */
    size_t max_header_bytes;    /* request line + headers; 0: 8192 */
    size_t max_body_bytes;      /* decoded body; 0: 16384 */
    size_t ws_max_message;      /* one WebSocket message; 0: IRC_LINE_MAX + 2 */
};

/* Copies what it keeps of cfg (and opens web_root). Call once from main
 * before the loop runs; calling again replaces the configuration. */
void http_configure(const struct http_config *cfg);

/* Set by net on every accepted HTTP connection (c->proto NULL at first). */
extern const struct conn_ops http_conn_ops;

/* One parsed request, valid only while the route handler runs (copy what
 * you keep). Strings are NUL-terminated. */
struct http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* as sent, not percent-decoded; starts '/' */
    const char *query;          /* after '?', not decoded; "" when absent */
    const char *body;           /* decoded body (NUL after it); "" if none */
    size_t body_len;
    bool is_head;               /* HEAD: http_respond omits the body */
    const struct http_parse *parse;  /* private: headers for the lookups */
};

/* Returns the value of the first header called name (case-insensitive),
 * surrounding blanks removed, or NULL. */
const char *http_request_header(const struct http_request *req,
                                const char *name);
/* Returns the value of the nth (0-based) header called name, or NULL; for
 * headers a client may repeat (RFC 9110 section 5.3). */
const char *http_request_header_nth(const struct http_request *req,
                                    const char *name, size_t nth);
/* True when any header called name holds token in its comma-separated
 * list (case-insensitive), e.g. ("Connection", "upgrade"). */
bool http_request_has_token(const struct http_request *req, const char *name,
                            const char *token);

/* A route handler. Respond with http_respond and return SL_OK. Returning
 * an error without responding sends the matching status (SL_ENOTFOUND
 * 404, SL_EINVAL/SL_EPROTO/SL_EUTF8 400, SL_EPERM/SL_EDENIED 403,
 * SL_ELIMIT 429, anything else 500). Handlers must respond before
 * returning: the next pipelined request is read right after. */
typedef enum sl_err http_route_fn(struct conn *c,
                                  const struct http_request *req);

/* Routes requests with this method ("GET"...; HEAD also matches "GET")
 * whose path starts with path_prefix to fn. Routes are tried in the order
 * added and before the built-in ones, so "/healthz" may be overridden.
 * method and path_prefix are kept (pass string literals). At most 32. */
void http_route_add(const char *method, const char *path_prefix,
                    http_route_fn *fn);

/* Queues a complete response on c: status line, Content-Type (when not
 * NULL), Content-Length, X-Content-Type-Options, extra_headers (NULL or
 * whole "Name: value\r\n" lines) and body (omitted for HEAD). On a status
 * >= 400, or when the client asked to close, adds "Connection: close" and
 * closes the connection after the response is flushed. */
void http_respond(struct conn *c, int status, const char *content_type,
                  const char *body, size_t len, const char *extra_headers);

#endif
