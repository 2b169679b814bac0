/* libFuzzer harness for transport/http.c: the input is what a client sends
 * on one connection (several pipelined requests are welcome), cut into
 * reads of a size picked by the first byte, and fed to http_conn_ops.input
 * on a bare struct conn. Static files come from a small temporary web root.
 * "GET /irc" is taken over by a route, so a valid upgrade answers 200
 * instead of starting the IRC layer (ws_decode has its own harness).
 * Checks:
 * - no crash, leak or out-of-bounds access (ASan, UBSan);
 * - every byte queued is part of a response that starts "HTTP/1.1 ";
 * - input never returns anything but SL_OK, and once the connection is
 *   closing nothing more is read;
 * - no parser state is left between requests or after "closed". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/outq.h"
#include "transport/http.h"

#define CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "http_request fuzz: check failed: %s (line %d)\n", \
                    #cond, __LINE__); \
            abort(); \
        } \
    } while (0)

static enum sl_err irc_route(struct conn *c, const struct http_request *req)
{
    /* Touch what a route may read. */
    const char *key = http_request_header(req, "Sec-WebSocket-Key");
    bool has = http_request_has_token(req, "Connection", "upgrade");
    CHECK(req->path[0] == '/');
    CHECK(req->body[req->body_len] == '\0');
    http_respond(c, 200, "text/plain", key ? key : "", key ? strlen(key) : 0,
                 has ? "X-Upgrade: yes\r\n" : NULL);
    return SL_OK;
}

static enum sl_err api_route(struct conn *c, const struct http_request *req)
{
    if (req->body_len == 0)
        return SL_EINVAL;   /* answered 400 by http.c */
    http_respond(c, 200, "application/json", req->body, req->body_len, NULL);
    return SL_OK;
}

static char root[] = "/tmp/salon-fuzz-http-XXXXXX";

/* Removes the temporary web root when the fuzzer exits. */
static void remove_root(void)
{
    static const char *const names[] = { "sub/app.js", "sub", "index.html" };
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        remove(path);
    }
    rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(root))
        abort();
    atexit(remove_root);
    char path[128];
    snprintf(path, sizeof path, "%s/index.html", root);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs("<!doctype html><title>fuzz</title>\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sub/app.js", root);
    f = fopen(path, "w");
    if (f) {
        fputs("1;\n", f);
        fclose(f);
    }
    struct http_config cfg = { .web_root = root, .max_header_bytes = 2048,
                               .max_body_bytes = 1024 };
    http_configure(&cfg);
    http_route_add("GET", "/irc", irc_route);
    http_route_add("POST", "/api/", api_route);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] * 7 % 509 + 1;
    data++;
    size--;

    struct conn *c = calloc(1, sizeof *c);
    outq_init(&c->out, 1 << 20, WIRE_LINE);
    c->in_max = 1 << 16;
    c->ops = &http_conn_ops;
    for (size_t at = 0; at < size && !c->out.is_closing;) {
        size_t n = size - at < step ? size - at : step;
        CHECK(buf_append(&c->in, data + at, n, c->in_max) == SL_OK);
        at += n;
        CHECK(http_conn_ops.input(c) == SL_OK);
        CHECK(c->in.len == 0);
    }

    /* Each queued entry is one whole response. */
    for (uint32_t i = 0; i < c->out.count; i++) {
        const struct outq_ent *e = outq_entry(&c->out, i);
        CHECK(e->len >= 9 && !memcmp(e->mb->data + e->off, "HTTP/1.1 ", 9));
    }

    http_conn_ops.closed(c, "fuzz");
    CHECK(c->proto == NULL);
    while (outq_pending_pop())
        ;
    outq_cleanup(&c->out);
    buf_cleanup(&c->in);
    free(c);
    return 0;
}
