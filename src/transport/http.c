#include "transport/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <http_parser.h>

#include "irc/irc.h"
#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/msgbuf.h"
#include "lib/outq.h"
#include "transport/ws.h"

/* Defaults of struct http_config. 8 KiB of head is what common servers
 * (nginx, Apache) accept; the API's JSON bodies are small. */
#define HTTP_HEADER_DEFAULT 8192
#define HTTP_BODY_DEFAULT 16384
/* Headers per request: a bound on the index, not on any RFC; real
 * browsers send about 20. More is answered 431 (RFC 6585 section 5). */
#define HTTP_HEADERS_MAX 64
#define HTTP_ROUTES_MAX 32
/* Largest static file served: the chat page's assets are far smaller;
 * a file is read whole into one buffer, so this bounds that buffer. */
#define HTTP_STATIC_MAX (4u << 20)
/* Longest decoded path of a static file, and its directory depth. */
#define HTTP_PATH_MAX 1024

/* RFC 9112 section 2.2 asks for a bound on request-line and header sizes;
 * the parser's own ceiling is set from max_header_bytes, and our copy of
 * the head (URL, names, values) is bounded by the same number. */
static struct {
    char *web_root;
    int root_fd;                /* O_PATH directory, -1 when none */
    size_t max_header_bytes;
    size_t max_body_bytes;
    size_t ws_max_message;
} cfg = {
    .root_fd = -1,
    .max_header_bytes = HTTP_HEADER_DEFAULT,
    .max_body_bytes = HTTP_BODY_DEFAULT,
    .ws_max_message = IRC_LINE_MAX + 2,
};

struct route {
    const char *method;
    const char *prefix;
    http_route_fn *fn;
};

static struct route routes[HTTP_ROUTES_MAX];
static size_t nroutes;

struct header {
    uint32_t name;              /* offsets into arena, NUL-terminated */
    uint32_t value;
};

enum last_cb { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

/* The state of one request being parsed. It exists from the request's
 * first byte until its response is queued, so an idle keep-alive
 * connection holds nothing (c->proto == NULL). */
struct http_parse {
    http_parser p;
    struct conn *c;
    struct buf arena;           /* URL, then header names and values */
    struct buf body;
    struct header hdrs[HTTP_HEADERS_MAX];
    uint32_t nhdrs;
    uint32_t url_len;
    int fail_status;            /* set by a callback that refused */
    uint8_t last;               /* enum last_cb */
    uint8_t upgrade_framing;    /* framing + 1 after a 101, else 0 */
    bool is_headers_done;
    bool is_complete;
    bool is_keep_alive;
    bool has_responded;
    bool must_close;
};

static const char *status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return status < 400 ? "OK" : "Error";
    }
}

/* --- Configuration and routes --- */

void http_configure(const struct http_config *in)
{
    free(cfg.web_root);
    cfg.web_root = NULL;
    if (cfg.root_fd >= 0)
        close(cfg.root_fd);
    cfg.root_fd = -1;
    cfg.max_header_bytes = in->max_header_bytes ? in->max_header_bytes
                                                : HTTP_HEADER_DEFAULT;
    cfg.max_body_bytes = in->max_body_bytes ? in->max_body_bytes
                                            : HTTP_BODY_DEFAULT;
    cfg.ws_max_message = in->ws_max_message ? in->ws_max_message
                                            : IRC_LINE_MAX + 2;
    if (cfg.max_header_bytes > UINT32_MAX / 2)
        cfg.max_header_bytes = UINT32_MAX / 2;
    if (cfg.max_body_bytes > UINT32_MAX / 2)
        cfg.max_body_bytes = UINT32_MAX / 2;
    http_parser_set_max_header_size((uint32_t)cfg.max_header_bytes);
    if (in->web_root && in->web_root[0]) {
        cfg.web_root = xstrdup(in->web_root);
        cfg.root_fd = open(cfg.web_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cfg.root_fd < 0)
            log_warn("http: web_root %s: %s; static files disabled until "
                     "it exists", cfg.web_root, strerror(errno));
    }
}

void http_route_add(const char *method, const char *path_prefix,
                    http_route_fn *fn)
{
    if (nroutes == HTTP_ROUTES_MAX) {
        log_error("http: more than %d routes; %s %s ignored",
                  HTTP_ROUTES_MAX, method, path_prefix);
        return;
    }
    routes[nroutes++] = (struct route){ method, path_prefix, fn };
}

/* --- Header lookups --- */

const char *http_request_header_nth(const struct http_request *req,
                                    const char *name, size_t nth)
{
    const struct http_parse *st = req->parse;
    for (uint32_t i = 0; i < st->nhdrs; i++) {
        if (strcasecmp(st->arena.data + st->hdrs[i].name, name))
            continue;
        if (nth-- == 0)
            return st->arena.data + st->hdrs[i].value;
    }
    return NULL;
}

const char *http_request_header(const struct http_request *req,
                                const char *name)
{
    return http_request_header_nth(req, name, 0);
}

static bool list_has_token(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - tok) == tlen && !strncasecmp(tok, token, tlen))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

bool http_request_has_token(const struct http_request *req, const char *name,
                            const char *token)
{
    const char *v;
    for (size_t i = 0; (v = http_request_header_nth(req, name, i)); i++)
        if (list_has_token(v, token))
            return true;
    return false;
}

/* --- Responses --- */

/* Builds a response head with room for body_room body bytes after it;
 * *hlen is set to the head's length. */
static struct msgbuf *response_new(struct http_parse *st, int status,
                                   const char *ctype, size_t content_len,
                                   const char *extra, size_t body_room,
                                   size_t *hlen)
{
    bool must_close = status >= 400 || !st || !st->is_keep_alive;
    char *head = NULL;
    int n = asprintf(&head,
                     "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n"
                     "X-Content-Type-Options: nosniff\r\n%s",
                     status, status_text(status),
                     ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", content_len,
                     must_close ? "Connection: close\r\n" : "");
    if (n < 0)
        abort();        /* out of memory, as xmalloc would */
    size_t elen = extra ? strlen(extra) : 0;
    *hlen = (size_t)n + elen + 2;
    struct msgbuf *mb = msgbuf_new(*hlen + body_room);
    memcpy(mb->data, head, (size_t)n);
    free(head);
    if (elen)
        memcpy(mb->data + n, extra, elen);
    memcpy(mb->data + n + elen, "\r\n", 2);
    if (st) {
        st->has_responded = true;
        st->must_close = must_close;
    }
    return mb;
}

/* Queues mb and, when the response ends the connection, closes it after
 * the flush (outq_close keeps what is queued). */
static void response_push(struct conn *c, struct msgbuf *mb)
{
    struct http_parse *st = c->proto;
    outq_push(&c->out, mb);
    msgbuf_unref(mb);
    if (!st || st->must_close)
        outq_close(&c->out, "HTTP connection done");
}

void http_respond(struct conn *c, int status, const char *content_type,
                  const char *body, size_t len, const char *extra_headers)
{
    struct http_parse *st = c->proto;
    bool is_head = st && st->p.method == HTTP_HEAD;
    size_t room = is_head ? 0 : len;
    size_t hlen;
    struct msgbuf *mb = response_new(st, status, content_type, len,
                                     extra_headers, room, &hlen);
    if (room)
        memcpy(mb->data + hlen, body, room);
    response_push(c, mb);
}

/* A stable machine-readable code for an HTTP-level refusal, used in the
 * JSON error body that API clients get (docs/api.md). */
static const char *error_code(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "body_too_large";
    case 414: return "uri_too_long";
    case 431: return "headers_too_large";
    default:  return status < 500 ? "refused" : "internal";
    }
}

/* True when the request being answered targets the JSON API, whose
 * clients expect every error as JSON. The URL is the first piece of the
 * head stored in the arena. */
static bool is_api_request(const struct conn *c)
{
    const struct http_parse *st = c->proto;
    return st && st->url_len >= 5 && st->arena.data &&
           strncmp(st->arena.data, "/api/", 5) == 0;
}

static void respond_error(struct conn *c, int status, const char *extra)
{
    char body[192];
    int n;
    bool is_json = is_api_request(c);
    if (is_json)
        n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"field\":null,\"message\":\"%d %s\"}}",
                     error_code(status), status, status_text(status));
    else
        n = snprintf(body, sizeof body, "%d %s\n", status, status_text(status));
    char hdrs[256];
    snprintf(hdrs, sizeof hdrs, "Cache-Control: no-store\r\n%s",
             extra ? extra : "");
    http_respond(c, status, is_json ? "application/json" : "text/plain; charset=utf-8", body,
                 (size_t)n, hdrs);
}

/* --- Parser callbacks: copy the head into the arena, bounded --- */

static struct http_parse *parse_of(http_parser *p)
{
    return p->data;
}

static int refuse(struct http_parse *st, int status)
{
    if (!st->fail_status)
        st->fail_status = status;
    return -1;          /* stops http_parser_execute */
}

static int arena_add(struct http_parse *st, const char *at, size_t len,
                     int status)
{
    if (buf_append(&st->arena, at, len, cfg.max_header_bytes))
        return refuse(st, status);
    return 0;
}

/* Ends the string being built when the callback kind changes. */
static int end_piece(struct http_parse *st)
{
    if (st->last == CB_FIELD) {
        /* A header with an empty value gets no value callback. */
        if (arena_add(st, "", 1, 431))
            return -1;
        st->hdrs[st->nhdrs].value = st->arena.len;
        st->nhdrs++;
    } else if (st->last == CB_VALUE) {
        uint32_t start = st->hdrs[st->nhdrs - 1].value;
        while (st->arena.len > start
               && (st->arena.data[st->arena.len - 1] == ' '
                   || st->arena.data[st->arena.len - 1] == '\t'))
            st->arena.len--;
    }
    if (st->last != CB_NONE && arena_add(st, "", 1, 431))
        return -1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_parse *st = parse_of(p);
    st->last = CB_URL;
    if (arena_add(st, at, len, 414))
        return -1;
    st->url_len = st->arena.len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_parse *st = parse_of(p);
    /* Trailer fields after a chunked body are ignored (RFC 9110 section
     * 6.5.1 lets a recipient discard them): the header table is final
     * once the head is complete. */
    if (st->is_headers_done)
        return 0;
    if (st->last != CB_FIELD) {
        if (end_piece(st))
            return -1;
        if (st->nhdrs == HTTP_HEADERS_MAX)
            return refuse(st, 431);
        st->hdrs[st->nhdrs].name = st->arena.len;
        st->last = CB_FIELD;
    }
    return arena_add(st, at, len, 431);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_parse *st = parse_of(p);
    if (st->is_headers_done)
        return 0;
    if (st->last != CB_VALUE) {
        if (arena_add(st, "", 1, 431))
            return -1;
        st->hdrs[st->nhdrs].value = st->arena.len;
        st->nhdrs++;
        st->last = CB_VALUE;
    }
    return arena_add(st, at, len, 431);
}

static int on_headers_complete(http_parser *p)
{
    struct http_parse *st = parse_of(p);
    if (end_piece(st))
        return -1;
    st->last = CB_NONE;
    st->is_headers_done = true;
    /* RFC 9110 section 15.5.14: refuse a declared body over the limit
     * before reading it. Chunked bodies are counted in on_body. */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > cfg.max_body_bytes)
        return refuse(st, 413);
    /* RFC 9110 section 10.1.1: a client waiting for "100 Continue" gets it
     * once the head is accepted (curl waits a second otherwise). */
    struct http_request req = { .parse = st };
    const char *expect = http_request_header(&req, "Expect");
    if (expect && !strcasecmp(expect, "100-continue")
        && p->http_major == 1 && p->http_minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct msgbuf *mb = msgbuf_copy(cont, sizeof cont - 1);
        outq_push(&st->c->out, mb);
        msgbuf_unref(mb);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_parse *st = parse_of(p);
    /* +1 keeps room for the NUL that http_request.body promises. */
    if ((size_t)st->body.len + len + 1 > cfg.max_body_bytes + 1
        || buf_reserve(&st->body, len + 1, cfg.max_body_bytes + 1))
        return refuse(st, 413);
    memcpy(buf_tail(&st->body), at, len);
    st->body.len += (uint32_t)len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_parse *st = parse_of(p);
    st->is_complete = true;
    st->is_keep_alive = http_should_keep_alive(p);
    /* One request at a time: the next pipelined one waits in c->in until
     * this one's response is queued. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static struct http_parse *parse_new(struct conn *c)
{
    struct http_parse *st = xcalloc(1, sizeof *st);
    http_parser_init(&st->p, HTTP_REQUEST);
    st->p.data = st;
    st->c = c;
    return st;
}

static void parse_free(struct http_parse *st)
{
    if (!st)
        return;
    buf_cleanup(&st->arena);
    buf_cleanup(&st->body);
    free(st);
}

/* --- Static files --- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes path into out and checks every segment. Returns 0, or
 * the status to answer: 400 for encodings and traversal attempts ("..",
 * NUL, backslash), 404 for hidden names (".git", ".env"), 414 when too
 * long. An empty last segment becomes "index.html". */
static int static_path(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = path; *p; p++) {
        char ch = *p;
        if (ch == '%') {
            int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
            if (hi < 0 || lo < 0)
                return 400;
            ch = (char)(hi << 4 | lo);
            p += 2;
        }
        if (ch == '\0' || ch == '\\')
            return 400;
        if (n + 1 >= cap)
            return 414;
        out[n++] = ch;
    }
    out[n] = '\0';
    if (n == 0 || out[n - 1] == '/') {
        static const char index[] = "index.html";
        if (n + sizeof index >= cap)
            return 414;
        memcpy(out + n, index, sizeof index);
    }
    for (char *seg = out; *seg;) {
        char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && !strncmp(seg, "..", 2)))
            return 400;
        if (len > 0 && seg[0] == '.')
            return 404;
        seg += len + (end ? 1 : 0);
    }
    return 0;
}

/* Opens rel under the web root one component at a time with O_NOFOLLOW,
 * so no symlink (inside or pointing out of the root) is ever followed.
 * Returns the fd of a regular file, or -1. */
static int open_beneath(char *rel, bool *is_dir)
{
    *is_dir = false;
    int dir = cfg.root_fd;
    int fd = -1;
    char *save = NULL;
    char *seg = strtok_r(rel, "/", &save);
    while (seg) {
        char *next = strtok_r(NULL, "/", &save);
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC
                  | (next ? O_DIRECTORY | O_PATH : O_NONBLOCK);
        fd = openat(dir, seg, flags);
        if (dir != cfg.root_fd)
            close(dir);
        if (fd < 0)
            return -1;
        dir = fd;
        seg = next;
    }
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        /* "/docs" names a directory: its index, reached at "/docs/". */
        *is_dir = true;
        int idx = openat(fd, "index.html", O_RDONLY | O_NOFOLLOW | O_CLOEXEC
                                           | O_NONBLOCK);
        close(fd);
        fd = idx;
        if (fd < 0 || fstat(fd, &sb) != 0)
            goto fail;
    }
    if (!S_ISREG(sb.st_mode))
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

static const char *content_type_of(const char *name, bool *is_html)
{
    static const struct { const char *ext, *type; } types[] = {
        { "html", "text/html; charset=utf-8" },
        { "css", "text/css; charset=utf-8" },
        { "js", "text/javascript; charset=utf-8" },
        { "mjs", "text/javascript; charset=utf-8" },
        { "json", "application/json" },
        { "svg", "image/svg+xml" },
        { "png", "image/png" },
        { "ico", "image/x-icon" },
        { "webmanifest", "application/manifest+json" },
        { "txt", "text/plain; charset=utf-8" },
        { "woff2", "font/woff2" },
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    *is_html = false;
    if (dot) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (!strcasecmp(dot + 1, types[i].ext)) {
                *is_html = i == 0;
                return types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* The page's own policy: everything from this origin, WebSocket to any
 * host (ws:/wss:, so the page works behind a TLS proxy), no framing. */
#define HTTP_HTML_HEADERS                                                  \
    "Cache-Control: no-cache\r\n"                                          \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; "     \
    "style-src 'self'; img-src 'self' data:; font-src 'self'; "            \
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "    \
    "form-action 'self'; frame-ancestors 'none'\r\n"                       \
    "X-Frame-Options: DENY\r\n"                                            \
    "Referrer-Policy: no-referrer\r\n"
#define HTTP_ASSET_HEADERS "Cache-Control: public, max-age=3600\r\n"

static void serve_static(struct conn *c, struct http_parse *st,
                         const struct http_request *req)
{
    char rel[HTTP_PATH_MAX];
    char name[HTTP_PATH_MAX];
    int fd = -1;
    struct msgbuf *mb = NULL;

    int status = static_path(req->path, rel, sizeof rel);
    if (status) {
        respond_error(c, status, NULL);
        goto out;
    }
    memcpy(name, rel, strlen(rel) + 1); /* open_beneath cuts rel up */
    if (cfg.root_fd < 0 && cfg.web_root)
        cfg.root_fd = open(cfg.web_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    bool is_dir = false;
    if (cfg.root_fd >= 0)
        fd = open_beneath(rel, &is_dir);
    if (fd < 0) {
        respond_error(c, 404, NULL);
        goto out;
    }
    size_t plen = strlen(req->path);
    if (is_dir && plen > 0 && req->path[plen - 1] != '/') {
        /* A directory without its slash: send the browser to "/mod/", so
         * that the page's relative addresses and its type are right. */
        char loc[2 * HTTP_PATH_MAX + 32];
        snprintf(loc, sizeof loc, "Location: %s/%s%s\r\n", req->path, req->query[0] ? "?" : "",
                 req->query);
        http_respond(c, 301, "text/plain; charset=utf-8", "Moved\n", 6, loc);
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        respond_error(c, 500, NULL);
        goto out;
    }
    size_t size = (size_t)sb.st_size;
    /* The whole response goes through the output queue, so it must also
     * fit under the connection's SendQ limit. */
    if (size > HTTP_STATIC_MAX
        || (c->out.limit && size + 1024 > c->out.limit - c->out.bytes)) {
        log_warn("http %u: static file of %zu bytes is too large to serve",
                 (unsigned)c->id, size);
        respond_error(c, 500, NULL);
        goto out;
    }
    bool is_html;
    const char *ctype = content_type_of(name, &is_html);
    size_t room = req->is_head ? 0 : size;
    size_t hlen;
    mb = response_new(st, 200, ctype, size,
                      is_html ? HTTP_HTML_HEADERS : HTTP_ASSET_HEADERS,
                      room, &hlen);
    for (size_t got = 0; got < room;) {
        ssize_t r = pread(fd, mb->data + hlen + got, room - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* The file shrank or failed under us: nothing was sent yet. */
            msgbuf_unref(mb);
            mb = NULL;
            respond_error(c, 500, NULL);
            goto out;
        }
        got += (size_t)r;
    }
    response_push(c, mb);
    mb = NULL;
out:
    if (fd >= 0)
        close(fd);
    msgbuf_unref(mb);
}

/* --- The WebSocket upgrade (RFC 6455 section 4.2) --- */

#define HTTP_WS_VERSION_HEADERS "Sec-WebSocket-Version: 13\r\n"

static void upgrade_irc(struct conn *c, struct http_parse *st,
                        const struct http_request *req)
{
    /* 4.2.1 item 3-4: "Upgrade: websocket" and "Connection: Upgrade".
     * A plain GET gets 426, which must name the protocol (RFC 9110
     * section 15.5.22). */
    if (!http_request_has_token(req, "Upgrade", "websocket")) {
        respond_error(c, 426, "Upgrade: websocket\r\n"
                              HTTP_WS_VERSION_HEADERS);
        return;
    }
    /* 4.2.1 item 1: HTTP/1.1 or higher, method GET, no body. */
    if (st->p.http_major < 1 || (st->p.http_major == 1 && st->p.http_minor < 1)
        || !http_request_has_token(req, "Connection", "upgrade")
        || req->body_len > 0) {
        respond_error(c, 400, NULL);
        return;
    }
    /* 4.2.2 item 4 and 4.4: only version 13; tell the client which. */
    const char *version = http_request_header(req, "Sec-WebSocket-Version");
    if (!version || strcmp(version, "13")) {
        respond_error(c, 426, HTTP_WS_VERSION_HEADERS);
        return;
    }
    /* 4.2.1 item 5: exactly one key, base64 of 16 bytes. */
    const char *key = http_request_header(req, "Sec-WebSocket-Key");
    if (!key || http_request_header_nth(req, "Sec-WebSocket-Key", 1)
        || !ws_key_valid(key)) {
        respond_error(c, 400, NULL);
        return;
    }
    /* IRCv3 WebSocket: the first of text/binary.ircv3.net the client
     * lists; none (or only unknown ones): text, without the header.
     * Sec-WebSocket-Extensions is ignored: no permessage-deflate. */
    const char *proto = NULL;
    const char *offer;
    for (size_t i = 0; !proto
         && (offer = http_request_header_nth(req, "Sec-WebSocket-Protocol", i));
         i++)
        proto = ws_subprotocol_pick(offer);

    char accept[WS_ACCEPT_LEN + 1];
    ws_accept_key(key, accept);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%s%s\r\n",
                     accept, proto ? "Sec-WebSocket-Protocol: " : "",
                     proto ? proto : "", proto ? "\r\n" : "");
    struct msgbuf *mb = msgbuf_copy(head, (size_t)n);
    outq_push(&c->out, mb);
    msgbuf_unref(mb);
    st->has_responded = true;
    st->upgrade_framing = (uint8_t)(ws_subprotocol_framing(proto) + 1);
    log_debug("http %u: websocket upgrade (%s)", (unsigned)c->id,
              proto ? proto : "text, no subprotocol");
}

/* --- Dispatch --- */

static int status_of(enum sl_err err)
{
    switch (err) {
    case SL_ENOTFOUND: return 404;
    case SL_EINVAL:
    case SL_EPROTO:
    case SL_EUTF8: return 400;
    case SL_EPERM:
    case SL_EDENIED: return 403;
    case SL_ELIMIT: return 429;
    default: return 500;
    }
}

static bool method_matches(const char *route, const char *method)
{
    return !strcmp(route, method)
        || (!strcmp(route, "GET") && !strcmp(method, "HEAD"));
}

/* Tries the added routes. Returns true when one of them owns the path
 * (it answered, or the method is not allowed there: 405). */
static bool dispatch_routes(struct conn *c, struct http_parse *st,
                            const struct http_request *req)
{
    char allow[128] = "";
    size_t alen = 0;
    bool has_path = false;

    for (size_t i = 0; i < nroutes; i++) {
        const struct route *r = &routes[i];
        if (strncmp(req->path, r->prefix, strlen(r->prefix)))
            continue;
        has_path = true;
        if (!method_matches(r->method, req->method)) {
            int n = snprintf(allow + alen, sizeof allow - alen, "%s%s",
                             alen ? ", " : "", r->method);
            if (n > 0 && (size_t)n < sizeof allow - alen)
                alen += (size_t)n;
            continue;
        }
        enum sl_err err = r->fn(c, req);
        if (!st->has_responded)
            respond_error(c, err ? status_of(err) : 500, NULL);
        return true;
    }
    if (!has_path)
        return false;
    char extra[160];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    respond_error(c, 405, extra);
    return true;
}

static void dispatch(struct conn *c, struct http_parse *st)
{
    struct http_parser_url u;
    char *target = NULL;
    const char *method = http_method_str((enum http_method)st->p.method);
    bool is_get = st->p.method == HTTP_GET, is_head = st->p.method == HTTP_HEAD;

    /* RFC 9110 section 15.6.6: we speak HTTP/1.x only. */
    struct http_request req = { .method = method, .parse = st };
    if (st->p.http_major != 1) {
        respond_error(c, 505, NULL);
        goto out;
    }
    /* RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host. */
    if ((st->p.http_major == 1 && st->p.http_minor >= 1
         && !http_request_header(&req, "Host"))
        || http_request_header_nth(&req, "Host", 1)) {
        respond_error(c, 400, NULL);
        goto out;
    }
    http_parser_url_init(&u);
    if (st->p.method == HTTP_CONNECT
        || http_parser_parse_url(st->arena.data, st->url_len, 0, &u)
        || !(u.field_set & (1 << UF_PATH))) {
        respond_error(c, 400, NULL);
        goto out;
    }
    /* Path and query, each NUL-terminated, copied out of the URL. */
    size_t plen = u.field_data[UF_PATH].len;
    size_t qlen = (u.field_set & (1 << UF_QUERY)) ? u.field_data[UF_QUERY].len
                                                  : 0;
    target = xmalloc(plen + qlen + 2);
    memcpy(target, st->arena.data + u.field_data[UF_PATH].off, plen);
    target[plen] = '\0';
    if (qlen)
        memcpy(target + plen + 1, st->arena.data + u.field_data[UF_QUERY].off,
               qlen);
    target[plen + 1 + qlen] = '\0';
    if (target[0] != '/') {
        respond_error(c, 400, NULL);
        goto out;
    }
    if (buf_reserve(&st->body, 1, cfg.max_body_bytes + 1) == SL_OK)
        st->body.data[st->body.len] = '\0';
    req.path = target;
    req.query = target + plen + 1;
    req.body = st->body.data ? st->body.data : "";
    req.body_len = st->body.len;
    req.is_head = is_head;

    if (dispatch_routes(c, st, &req))
        goto out;
    if (!strcmp(req.path, "/healthz")) {
        if (is_get || is_head)
            http_respond(c, 200, "text/plain; charset=utf-8", "ok\n", 3,
                         "Cache-Control: no-store\r\n");
        else
            respond_error(c, 405, "Allow: GET, HEAD\r\n");
    } else if (!strcmp(req.path, "/irc")) {
        if (is_get)
            upgrade_irc(c, st, &req);
        else
            respond_error(c, 405, "Allow: GET\r\n");
    } else if (is_get || is_head) {
        serve_static(c, st, &req);
    } else {
        respond_error(c, 405, "Allow: GET, HEAD\r\n");
    }
out:
    free(target);
}

/* --- Connection ops --- */

/* Ends the connection's HTTP life after an answer that closes it. */
static void drop_request(struct conn *c)
{
    parse_free(c->proto);
    c->proto = NULL;
    buf_consume(&c->in, c->in.len);
}

static enum sl_err http_input(struct conn *c)
{
    for (;;) {
        if (c->out.is_closing) {
            buf_consume(&c->in, c->in.len);     /* answered; read no more */
            return SL_OK;
        }
        if (c->in.len == 0)
            return SL_OK;
        struct http_parse *st = c->proto;
        if (!st) {
            st = parse_new(c);
            c->proto = st;
        }
        size_t n = http_parser_execute(&st->p, &settings, c->in.data,
                                       c->in.len);
        enum http_errno herr = HTTP_PARSER_ERRNO(&st->p);
        /* The callbacks copied what they need: the bytes may go. */
        buf_consume(&c->in, n);

        if (st->fail_status || (herr != HPE_OK && herr != HPE_PAUSED)) {
            /* The parser's own head limit: 414 while still in the URL. */
            int status = st->fail_status ? st->fail_status
                       : herr != HPE_HEADER_OVERFLOW ? 400
                       : st->last == CB_NONE || st->last == CB_URL ? 414
                       : 431;
            log_debug("http %u: bad request (%s), answering %d",
                      (unsigned)c->id, http_errno_name(herr), status);
            respond_error(c, status, NULL);
            drop_request(c);
            return SL_OK;
        }
        if (!st->is_complete) {
            if (c->in.len == 0)
                return SL_OK;   /* the rest of the request is to come */
            respond_error(c, 400, NULL);
            drop_request(c);
            return SL_OK;
        }
        dispatch(c, st);
        uint8_t up = st->upgrade_framing;
        parse_free(st);
        c->proto = NULL;
        /* What follows the upgrade request in c->in is WebSocket. */
        if (up)
            return ws_start(c, (enum wire_framing)(up - 1),
                            cfg.ws_max_message);
    }
}

static void http_closed(struct conn *c, const char *reason)
{
    (void)reason;
    parse_free(c->proto);
    c->proto = NULL;
}

const struct conn_ops http_conn_ops = {
    .input = http_input,
    .farewell = NULL,
    .closed = http_closed,
};
