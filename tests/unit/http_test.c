/* transport/http.c driven through http_conn_ops on a bare struct conn:
 * requests go into c->in, responses are read back from c->out. Successful
 * WebSocket upgrades need the IRC layer and are covered by the black-box
 * tests; the refusals are here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/outq.h"
#include "transport/http.h"

static char root[] = "/tmp/salon-http-test-XXXXXX";

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(root));
    char path[256];
    snprintf(path, sizeof path, "%s/sub", root);
    cr_assert_eq(mkdir(path, 0755), 0);
    write_file("index.html", "<!doctype html><title>salon</title>\n");
    write_file("app.js", "console.log(1);\n");
    write_file("sub/index.html", "sub page\n");
    write_file(".secret", "hidden\n");
    snprintf(path, sizeof path, "%s/escape.txt", root);
    cr_assert_eq(symlink("/etc/hostname", path), 0);
    snprintf(path, sizeof path, "%s/etcdir", root);
    cr_assert_eq(symlink("/etc", path), 0);
    struct http_config cfg = { .web_root = root };
    http_configure(&cfg);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(http, .init = setup, .fini = teardown);

static struct conn *conn_new(void)
{
    struct conn *c = calloc(1, sizeof *c);
    outq_init(&c->out, 0, WIRE_LINE);
    c->in_max = 1 << 20;
    c->ops = &http_conn_ops;
    return c;
}

static void conn_free(struct conn *c)
{
    /* As net/ does before a connection goes: off the pending list. */
    while (outq_pending_pop())
        ;
    http_conn_ops.closed(c, "test over");
    outq_cleanup(&c->out);
    buf_cleanup(&c->in);
    free(c);
}

static enum sl_err feed(struct conn *c, const char *s, size_t n)
{
    cr_assert_eq(buf_append(&c->in, s, n, c->in_max), SL_OK);
    return http_conn_ops.input(c);
}

static enum sl_err feed_str(struct conn *c, const char *s)
{
    return feed(c, s, strlen(s));
}

/* Everything queued on c, NUL-terminated; the caller frees it. */
static char *output(struct conn *c)
{
    char *all = calloc(1, c->out.bytes + 1);
    size_t at = 0;
    for (uint32_t i = 0; i < c->out.count; i++) {
        const struct outq_ent *e = outq_entry(&c->out, i);
        memcpy(all + at, e->mb->data + e->off, e->len);
        at += e->len;
    }
    return all;
}

static char *request(const char *req, struct conn **keep)
{
    struct conn *c = conn_new();
    cr_assert_eq(feed_str(c, req), SL_OK);
    char *out = output(c);
    if (keep)
        *keep = c;
    else
        conn_free(c);
    return out;
}

static void assert_status(const char *out, int status)
{
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
    cr_assert(!strncmp(out, want, strlen(want)), "want %d, got: %.60s",
              status, out);
}

static const char *body_of(const char *out)
{
    const char *p = strstr(out, "\r\n\r\n");
    cr_assert_not_null(p);
    return p + 4;
}

Test(http, healthz_get_and_keep_alive)
{
    struct conn *c;
    char *out = request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &c);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "Content-Length: 3\r\n"));
    cr_assert_not_null(strstr(out, "Content-Type: text/plain"));
    cr_assert_str_eq(body_of(out), "ok\n");
    cr_assert_null(strstr(out, "Connection: close"));
    cr_assert_not(c->out.is_closing);
    /* An idle keep-alive connection holds no parser state. */
    cr_assert_null(c->proto);
    cr_assert_eq(c->in.len, 0);
    free(out);
    conn_free(c);
}

Test(http, healthz_head_has_no_body)
{
    char *out = request("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "Content-Length: 3\r\n"));
    cr_assert_str_eq(body_of(out), "");
    free(out);
}

Test(http, healthz_wrong_method_is_405)
{
    struct conn *c;
    char *out = request("POST /healthz HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 0\r\n\r\n", &c);
    assert_status(out, 405);
    cr_assert_not_null(strstr(out, "Allow: GET, HEAD\r\n"));
    cr_assert_not_null(strstr(out, "Connection: close\r\n"));
    cr_assert(c->out.is_closing);
    free(out);
    conn_free(c);
}

Test(http, pipelined_requests_answered_in_order)
{
    struct conn *c;
    char *out = request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n", &c);
    assert_status(out, 200);
    const char *second = strstr(out + 1, "HTTP/1.1 200");
    cr_assert_not_null(second);
    cr_assert_not_null(strstr(second, "text/javascript"));
    const char *third = strstr(second + 1, "HTTP/1.1 200");
    cr_assert_not_null(third);
    cr_assert_not_null(strstr(third, "Connection: close\r\n"));
    cr_assert(c->out.is_closing);
    free(out);
    conn_free(c);
}

Test(http, request_split_at_every_byte)
{
    const char *req = "POST /api/x HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 5\r\n\r\nhello"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    struct conn *c = conn_new();
    for (size_t i = 0; req[i]; i++)
        cr_assert_eq(feed(c, req + i, 1), SL_OK);
    char *out = output(c);
    /* POST on the static tree is 405 and closes: the second is not read. */
    assert_status(out, 405);
    cr_assert_null(strstr(out + 1, "HTTP/1.1"));
    free(out);
    conn_free(c);

    c = conn_new();
    req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; req[i]; i++)
        cr_assert_eq(feed(c, req + i, 1), SL_OK);
    out = output(c);
    assert_status(out, 200);
    free(out);
    conn_free(c);
}

Test(http, http10_closes_after_response)
{
    struct conn *c;
    char *out = request("GET /healthz HTTP/1.0\r\n\r\n", &c);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "Connection: close\r\n"));
    cr_assert(c->out.is_closing);
    free(out);
    conn_free(c);
}

Test(http, static_index_with_security_headers)
{
    char *out = request("GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "Content-Type: text/html; charset=utf-8"));
    cr_assert_not_null(strstr(out, "Content-Security-Policy: default-src 'self'"));
    cr_assert_not_null(strstr(out, "connect-src 'self' ws: wss:"));
    cr_assert_not_null(strstr(out, "X-Content-Type-Options: nosniff"));
    cr_assert_not_null(strstr(out, "Content-Length: 36\r\n"));
    cr_assert_str_eq(body_of(out), "<!doctype html><title>salon</title>\n");
    free(out);

    out = request("GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 200);
    cr_assert_str_eq(body_of(out), "sub page\n");
    free(out);
    /* A directory without its slash is redirected to it, query kept, so
     * that the page's relative addresses resolve inside the directory. */
    out = request("GET /sub?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 301);
    cr_assert_not_null(strstr(out, "Location: /sub/?x=1\r\n"));
    free(out);
}

Test(http, static_asset_type_and_cache)
{
    char *out = request("GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "Content-Type: text/javascript"));
    cr_assert_not_null(strstr(out, "Cache-Control: public"));
    cr_assert_null(strstr(out, "Content-Security-Policy"));
    cr_assert_str_eq(body_of(out), "console.log(1);\n");
    free(out);
}

Test(http, static_path_safety)
{
    static const struct { const char *path; int status; } cases[] = {
        { "/../etc/passwd", 400 },
        { "/sub/../../etc/passwd", 400 },
        { "/%2e%2e/etc/passwd", 400 },
        { "/%2E%2e%2fetc%2fpasswd", 400 },
        { "/sub/%2e%2e/index.html", 400 },
        { "/a%00b", 400 },
        { "/a%zz", 400 },
        { "/a%5c..%5cb", 400 },
        { "/.secret", 404 },
        { "/escape.txt", 404 },         /* symlink to /etc/hostname */
        { "/etcdir/hostname", 404 },    /* symlinked directory */
        { "/missing.css", 404 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
                 cases[i].path);
        struct conn *c;
        char *out = request(req, &c);
        assert_status(out, cases[i].status);
        cr_assert_not_null(strstr(out, "Connection: close\r\n"));
        cr_assert(c->out.is_closing);
        free(out);
        conn_free(c);
    }
}

Test(http, static_wrong_method_is_405)
{
    char *out = request("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                        "\r\nx", NULL);
    assert_status(out, 405);
    cr_assert_not_null(strstr(out, "Allow: GET, HEAD\r\n"));
    free(out);
}

Test(http, malformed_requests_are_400)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",                       /* no Host */
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
        "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conn *c;
        char *out = request(bad[i], &c);
        cr_assert(!strncmp(out, "HTTP/1.1 400 ", 13), "case %zu: %.40s", i, out);
        cr_assert(c->out.is_closing, "case %zu", i);
        cr_assert_null(c->proto);
        free(out);
        conn_free(c);
    }
}

Test(http, other_http_versions_are_505)
{
    char *out = request("GET / HTTP/9.9\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 505);
    free(out);
}

Test(http, oversized_head_is_431_and_long_url_414)
{
    char *big = malloc(10000);
    snprintf(big, 10000, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: %09000d\r\n\r\n", 0);
    char *out = request(big, NULL);
    assert_status(out, 431);
    free(out);

    /* Many small headers: same limit, or the header count. */
    size_t at = (size_t)snprintf(big, 10000, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 100; i++)
        at += (size_t)snprintf(big + at, 10000 - at, "X-%d: y\r\n", i);
    snprintf(big + at, 10000 - at, "\r\n");
    out = request(big, NULL);
    assert_status(out, 431);
    free(out);

    at = (size_t)snprintf(big, 10000, "GET /");
    memset(big + at, 'a', 9000);
    snprintf(big + at + 9000, 10000 - at - 9000, " HTTP/1.1\r\nHost: x\r\n\r\n");
    out = request(big, NULL);
    assert_status(out, 414);
    free(out);
    free(big);
}

Test(http, oversized_body_is_413)
{
    char *out = request("POST /x HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 20000\r\n\r\n", NULL);
    assert_status(out, 413);
    free(out);

    /* Chunked: counted as it arrives. */
    struct conn *c = conn_new();
    cr_assert_eq(feed_str(c, "POST /x HTTP/1.1\r\nHost: x\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"), SL_OK);
    char chunk[4200];
    memset(chunk, 'b', sizeof chunk);
    memcpy(chunk, "1000\r\n", 6);
    memcpy(chunk + 6 + 4096, "\r\n", 2);
    for (int i = 0; i < 5 && !c->out.is_closing; i++)
        cr_assert_eq(feed(c, chunk, 6 + 4096 + 2), SL_OK);
    out = output(c);
    assert_status(out, 413);
    cr_assert(c->out.is_closing);
    free(out);
    conn_free(c);
}

Test(http, websocket_refusals)
{
    static const struct { const char *req; int status; const char *hdr; } cases[] = {
        { "GET /irc HTTP/1.1\r\nHost: x\r\n\r\n", 426, "Upgrade: websocket" },
        { "GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          426, "Sec-WebSocket-Version: 13" },
        { "GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          426, "Sec-WebSocket-Version: 13" },
        { "GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n", 400, NULL },
        { "GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
          400, NULL },
        { "GET /irc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: keep-alive\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400, NULL },
        { "GET /irc HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400, NULL },
        { "POST /irc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
          405, "Allow: GET" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct conn *c;
        char *out = request(cases[i].req, &c);
        assert_status(out, cases[i].status);
        if (cases[i].hdr)
            cr_assert_not_null(strstr(out, cases[i].hdr), "case %zu", i);
        cr_assert(c->out.is_closing);
        cr_assert_eq(c->ops, &http_conn_ops);
        free(out);
        conn_free(c);
    }
}

static enum sl_err echo_route(struct conn *c, const struct http_request *req)
{
    char hdrs[128];
    const char *tag = http_request_header(req, "x-tag");
    snprintf(hdrs, sizeof hdrs, "X-Echo-Tag: %s\r\nX-Query: %s\r\n",
             tag ? tag : "-", req->query);
    cr_assert_eq(req->body[req->body_len], '\0');
    http_respond(c, 200, "application/json", req->body, req->body_len, hdrs);
    return SL_OK;
}

static enum sl_err missing_route(struct conn *c, const struct http_request *req)
{
    (void)c;
    cr_assert(http_request_has_token(req, "Connection", "keep-alive"));
    cr_assert(http_request_has_token(req, "connection", "X-Second"));
    cr_assert_str_eq(http_request_header_nth(req, "Connection", 1), "X-Second");
    return SL_ENOTFOUND;
}

Test(http, routes)
{
    http_route_add("POST", "/api/echo", echo_route);
    http_route_add("GET", "/api/missing", missing_route);

    struct conn *c;
    char *out = request("POST /api/echo?a=1 HTTP/1.1\r\nHost: x\r\n"
                        "X-Tag:   hello  \r\nContent-Length: 7\r\n\r\n"
                        "{\"a\":1}", &c);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "X-Echo-Tag: hello\r\n"));
    cr_assert_not_null(strstr(out, "X-Query: a=1\r\n"));
    cr_assert_str_eq(body_of(out), "{\"a\":1}");
    cr_assert_not(c->out.is_closing);
    free(out);
    conn_free(c);

    out = request("GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
    assert_status(out, 405);
    cr_assert_not_null(strstr(out, "Allow: POST\r\n"));
    free(out);

    out = request("GET /api/missing HTTP/1.1\r\nHost: x\r\n"
                  "Connection: keep-alive\r\nConnection: X-Second\r\n\r\n",
                  NULL);
    assert_status(out, 404);
    free(out);

    /* A client that waits for "100 Continue" gets it before the answer. */
    out = request("POST /api/echo HTTP/1.1\r\nHost: x\r\n"
                  "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok", NULL);
    assert_status(out, 100);
    const char *final = strstr(out, "\r\n\r\n") + 4;
    assert_status(final, 200);
    cr_assert_str_eq(body_of(final), "ok");
    free(out);

    /* Chunked body reaches the route decoded. */
    out = request("POST /api/echo HTTP/1.1\r\nHost: x\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", NULL);
    assert_status(out, 200);
    cr_assert_str_eq(body_of(out), "abcde");
    free(out);
}

/* Regression (found by tests/fuzz/http_request.c): trailer fields after a
 * chunked body were appended to the header table without their closing
 * NUL, and a header lookup read past the arena. Trailers are ignored now. */
static enum sl_err trailer_route(struct conn *c, const struct http_request *req)
{
    const char *late = http_request_header(req, "x-late");
    http_respond(c, 200, "text/plain", late ? "seen" : "unseen", late ? 4 : 6, NULL);
    return SL_OK;
}

Test(http, chunked_trailers_are_ignored)
{
    http_route_add("POST", "/api/trailer", trailer_route);
    char *late = request("POST /api/trailer HTTP/1.1\r\nHost: x\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "2\r\nab\r\n0\r\nX-Late: yes\r\n\r\n", NULL);
    assert_status(late, 200);
    cr_assert_str_eq(body_of(late), "unseen", "a trailer field must not become a header");
    free(late);
    http_route_add("POST", "/api/echo", echo_route);
    char *out = request("POST /api/echo HTTP/1.1\r\nHost: x\r\nX-Tag: head\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n"
                        "X-Tag: trailer\r\nConnection: keep-alive: websocket\r\n\r\n",
                        NULL);
    assert_status(out, 200);
    cr_assert_not_null(strstr(out, "X-Echo-Tag: head\r\n"));
    cr_assert_str_eq(body_of(out), "{\"a\":1}");
    free(out);
}
