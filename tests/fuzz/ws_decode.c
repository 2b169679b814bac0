/* libFuzzer harness for the RFC 6455 frame decoder of transport/ws.c.
 * The first three bytes pick the message limit, how the rest is cut into
 * reads and when the callback answers SL_EAGAIN; the rest is client bytes.
 * Checks:
 * - no read or write outside the input or the decoder's buffers, and
 *   data[len] is writable in the callback (ASan);
 * - every data message respects the limit, every control payload is at
 *   most 125 bytes, every text message is UTF-8, every close payload is
 *   empty or a valid code;
 * - an SL_EAGAIN offers the same message again, and nothing after it;
 * - a failure always comes with a close code (1002, 1007 or 1009) and the
 *   decoder stays failed; used never passes the bytes offered.
 * The handshake helpers get the input as a string too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "transport/ws.h"

#define CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "ws_decode fuzz: check failed: %s (line %d)\n", \
                    #cond, __LINE__); \
            abort(); \
        } \
    } while (0)

struct run {
    size_t max;
    uint8_t eagain_mask;        /* bit i: answer SL_EAGAIN to message i */
    unsigned nmsg;
    bool is_retry;
    char last[8];               /* start of the message refused last */
    size_t last_len;
};

static enum sl_err on_message(void *ud, int opcode, char *data, size_t len)
{
    struct run *r = ud;
    data[len] = '\0';
    if (opcode == WS_OP_TEXT || opcode == WS_OP_BINARY) {
        CHECK(len <= r->max);
        if (opcode == WS_OP_TEXT)
            CHECK(utf8_valid(data, len));
        size_t n = len;
        if (ws_message_line(data, &n) == SL_OK)
            CHECK(!memchr(data, '\n', n) && !memchr(data, '\r', n));
    } else {
        CHECK(opcode == WS_OP_PING || opcode == WS_OP_PONG
              || opcode == WS_OP_CLOSE);
        CHECK(len <= WS_CONTROL_MAX);
        if (opcode == WS_OP_CLOSE)
            CHECK(len == 0 || len >= 2);
    }
    if (r->is_retry) {
        size_t k = len < sizeof r->last ? len : sizeof r->last;
        CHECK(len == r->last_len && !memcmp(data, r->last, k));
        r->is_retry = false;
    } else if (r->eagain_mask & (1u << (r->nmsg & 7))) {
        r->is_retry = true;
        r->last_len = len;
        memcpy(r->last, data, len < sizeof r->last ? len : sizeof r->last);
        r->nmsg++;
        return SL_EAGAIN;
    }
    r->nmsg++;
    return SL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct run r = {
        .max = data[0] < 128 ? data[0] : 4610,
        .eagain_mask = data[2],
    };
    size_t step = (size_t)data[1] % 17 + 1;
    data += 3;
    size = size - 3;

    struct ws_decoder *d = ws_decoder_new(r.max);
    size_t at = 0;
    bool is_done = false;
    for (int guard = 0; !is_done && guard < 100000; guard++) {
        size_t n = size - at < step ? size - at : step;
        size_t used = 0;
        enum sl_err err = ws_decode(d, data + at, n, &used, on_message, &r);
        CHECK(used <= n);
        at += used;
        switch (err) {
        case SL_OK:
            CHECK(used == n);
            is_done = at == size;
            break;
        case SL_EAGAIN:
            CHECK(r.is_retry);
            break;
        case SL_ECLOSED:
            is_done = true;
            break;
        default: {
            uint16_t code = ws_decoder_close_code(d);
            CHECK(code == WS_CLOSE_PROTOCOL || code == WS_CLOSE_BAD_DATA
                  || code == WS_CLOSE_TOO_BIG);
            CHECK(ws_decode(d, data, size, &used, on_message, &r) != SL_OK);
            is_done = true;
            break;
        }
        }
    }
    ws_decoder_free(d);

    /* The handshake helpers never read past a NUL-terminated string. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    if (ws_key_valid(s)) {
        char accept[WS_ACCEPT_LEN + 1];
        ws_accept_key(s, accept);
        CHECK(strlen(accept) == WS_ACCEPT_LEN);
    }
    const char *p = ws_subprotocol_pick(s);
    CHECK(!p || !strcmp(p, "text.ircv3.net") || !strcmp(p, "binary.ircv3.net"));
    free(s);
    return 0;
}
