/* The RFC 6455 decoder and handshake helpers of transport/ws.c, tested as
 * pure functions: no connection, no IRC layer. */
#include <criterion/criterion.h>
#include <string.h>

#include "transport/ws.h"

#define MAX_MSGS 16

struct seen {
    int op[MAX_MSGS];
    char data[MAX_MSGS][512];
    size_t len[MAX_MSGS];
    size_t n;
    int eagain_left;        /* answer SL_EAGAIN this many times first */
};

static enum sl_err record(void *ud, int opcode, char *data, size_t len)
{
    struct seen *s = ud;
    data[len] = '\0';       /* the contract: data[len] is writable */
    if (s->eagain_left > 0) {
        s->eagain_left--;
        return SL_EAGAIN;
    }
    cr_assert_lt(s->n, MAX_MSGS);
    s->op[s->n] = opcode;
    cr_assert_lt(len, sizeof s->data[0]);
    memcpy(s->data[s->n], data, len);
    s->len[s->n] = len;
    s->n++;
    return SL_OK;
}

/* Builds one client frame: first byte (FIN | RSV | opcode) given whole. */
static size_t frame_raw(uint8_t *out, uint8_t b0, bool masked,
                        const void *payload, size_t len)
{
    static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t at = 0;
    out[at++] = b0;
    uint8_t mbit = masked ? 0x80 : 0;
    if (len < 126) {
        out[at++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        out[at++] = mbit | 126;
        out[at++] = (uint8_t)(len >> 8);
        out[at++] = (uint8_t)len;
    } else {
        out[at++] = mbit | 127;
        for (int i = 0; i < 8; i++)
            out[at++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (masked) {
        memcpy(out + at, mask, 4);
        at += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[at + i] = (uint8_t)(((const uint8_t *)payload)[i]
                                ^ (masked ? mask[i & 3] : 0));
    return at + len;
}

static size_t frame(uint8_t *out, bool fin, int op, const void *payload,
                    size_t len)
{
    return frame_raw(out, (uint8_t)((fin ? 0x80 : 0) | op), true, payload,
                     len);
}

static enum sl_err decode_all(struct ws_decoder *d, const uint8_t *in,
                              size_t len, struct seen *s)
{
    size_t used = 0;
    enum sl_err err = ws_decode(d, in, len, &used, record, s);
    if (err == SL_OK)
        cr_assert_eq(used, len);
    return err;
}

Test(ws_decode, single_masked_text)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    uint8_t buf[64];
    size_t n = frame(buf, true, WS_OP_TEXT, "NICK alice", 10);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.op[0], WS_OP_TEXT);
    cr_assert_str_eq(s.data[0], "NICK alice");
    ws_decoder_free(d);
}

Test(ws_decode, split_at_every_byte_boundary)
{
    uint8_t buf[600];
    char big[300];
    memset(big, 'x', sizeof big);
    size_t n = frame(buf, true, WS_OP_TEXT, "PRIVMSG #a :hi", 14);
    n += frame(buf + n, true, WS_OP_BINARY, big, sizeof big); /* 16-bit len */
    for (size_t cut = 0; cut <= n; cut++) {
        struct ws_decoder *d = ws_decoder_new(4610);
        struct seen s = {0};
        cr_assert_eq(decode_all(d, buf, cut, &s), SL_OK);
        cr_assert_eq(decode_all(d, buf + cut, n - cut, &s), SL_OK);
        cr_assert_eq(s.n, 2, "cut at %zu", cut);
        cr_assert_str_eq(s.data[0], "PRIVMSG #a :hi");
        cr_assert_eq(s.op[1], WS_OP_BINARY);
        cr_assert_eq(s.len[1], sizeof big);
        cr_assert_eq(memcmp(s.data[1], big, sizeof big), 0);
        ws_decoder_free(d);
    }
    /* And one byte at a time. */
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(decode_all(d, buf + i, 1, &s), SL_OK);
    cr_assert_eq(s.n, 2);
    ws_decoder_free(d);
}

Test(ws_decode, fragmented_with_ping_between)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    uint8_t buf[128];
    size_t n = frame(buf, false, WS_OP_TEXT, "PRIVMSG #a ", 11);
    n += frame(buf + n, true, WS_OP_PING, "p1", 2);
    n += frame(buf + n, false, WS_OP_CONT, ":hello ", 7);
    n += frame(buf + n, true, WS_OP_PONG, "", 0);
    n += frame(buf + n, true, WS_OP_CONT, "world", 5);
    for (size_t i = 0; i < n; i++)     /* byte by byte, too */
        cr_assert_eq(decode_all(d, buf + i, 1, &s), SL_OK);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.op[0], WS_OP_PING);
    cr_assert_str_eq(s.data[0], "p1");
    cr_assert_eq(s.op[1], WS_OP_PONG);
    cr_assert_eq(s.op[2], WS_OP_TEXT);
    cr_assert_str_eq(s.data[2], "PRIVMSG #a :hello world");
    ws_decoder_free(d);
}

Test(ws_decode, utf8_split_between_fragments_is_fine)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    uint8_t buf[64];
    size_t n = frame(buf, false, WS_OP_TEXT, "caf\xc3", 4);
    n += frame(buf + n, true, WS_OP_CONT, "\xa9", 1);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.data[0], "caf\xc3\xa9");
    ws_decoder_free(d);
}

Test(ws_decode, empty_message)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    uint8_t buf[16];
    size_t n = frame(buf, true, WS_OP_TEXT, "", 0);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.len[0], 0);
    ws_decoder_free(d);
}

static void expect_failure(const uint8_t *buf, size_t n, size_t max,
                           enum sl_err want, uint16_t code)
{
    struct ws_decoder *d = ws_decoder_new(max);
    struct seen s = {0};
    size_t used = 0;
    cr_assert_eq(ws_decode(d, buf, n, &used, record, &s), want);
    cr_assert_eq(ws_decoder_close_code(d), code);
    /* Nothing is read after the failure, and it stays failed. */
    cr_assert_neq(ws_decode(d, buf, n, &used, record, &s), SL_OK);
    ws_decoder_free(d);
}

Test(ws_decode, unmasked_frame_is_refused)
{
    uint8_t buf[32];
    size_t n = frame_raw(buf, 0x80 | WS_OP_TEXT, false, "hi", 2);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    /* Refused from the first two bytes, without waiting for the rest. */
    expect_failure(buf, 2, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
}

Test(ws_decode, rsv_bits_and_unknown_opcodes_are_refused)
{
    uint8_t buf[32];
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        size_t n = frame_raw(buf, (uint8_t)(0x80 | rsv | WS_OP_TEXT), true,
                             "hi", 2);
        expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    }
    static const int bad[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = frame(buf, true, bad[i], "hi", 2);
        expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    }
}

Test(ws_decode, control_frames_must_be_short_and_final)
{
    uint8_t buf[256];
    char p[126];
    memset(p, 'p', sizeof p);
    size_t n = frame(buf, true, WS_OP_PING, p, 126);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    n = frame(buf, false, WS_OP_PING, "x", 1);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    /* 125 bytes is the limit and is fine. */
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    n = frame(buf, true, WS_OP_PING, p, 125);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.len[0], 125);
    ws_decoder_free(d);
}

Test(ws_decode, fragmentation_errors)
{
    uint8_t buf[64];
    size_t n = frame(buf, true, WS_OP_CONT, "x", 1);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    n = frame(buf, false, WS_OP_TEXT, "a", 1);
    n += frame(buf + n, true, WS_OP_TEXT, "b", 1);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
}

Test(ws_decode, oversize_message)
{
    uint8_t buf[128];
    char p[17];
    memset(p, 'a', sizeof p);
    size_t n = frame(buf, true, WS_OP_TEXT, p, 17);
    /* Refused from the header alone. */
    expect_failure(buf, 6, 16, SL_ELIMIT, WS_CLOSE_TOO_BIG);
    expect_failure(buf, n, 16, SL_ELIMIT, WS_CLOSE_TOO_BIG);
    /* Fragments adding up past the limit. */
    n = frame(buf, false, WS_OP_TEXT, p, 10);
    n += frame(buf + n, true, WS_OP_CONT, p, 7);
    expect_failure(buf, n, 16, SL_ELIMIT, WS_CLOSE_TOO_BIG);
    /* Exactly the limit is fine. */
    struct ws_decoder *d = ws_decoder_new(16);
    struct seen s = {0};
    n = frame(buf, false, WS_OP_TEXT, p, 10);
    n += frame(buf + n, true, WS_OP_CONT, p, 6);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.len[0], 16);
    ws_decoder_free(d);
    /* A 64-bit length: huge, or with the forbidden top bit. */
    uint8_t hdr[14] = { 0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4 };
    expect_failure(hdr, sizeof hdr, 4610, SL_ELIMIT, WS_CLOSE_TOO_BIG);
    hdr[2] = 0x80;
    expect_failure(hdr, sizeof hdr, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
}

Test(ws_decode, text_must_be_utf8_binary_need_not)
{
    uint8_t buf[64];
    size_t n = frame(buf, true, WS_OP_TEXT, "bad \xff\xfe", 6);
    expect_failure(buf, n, 4610, SL_EUTF8, WS_CLOSE_BAD_DATA);
    n = frame(buf, true, WS_OP_TEXT, "over \xc0\xaf", 7);  /* overlong '/' */
    expect_failure(buf, n, 4610, SL_EUTF8, WS_CLOSE_BAD_DATA);

    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    n = frame(buf, true, WS_OP_BINARY, "bad \xff\xfe", 6);
    cr_assert_eq(decode_all(d, buf, n, &s), SL_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.op[0], WS_OP_BINARY);
    ws_decoder_free(d);
}

Test(ws_decode, close_frames)
{
    uint8_t buf[64];
    /* A valid close is delivered, then nothing more is read. */
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = {0};
    size_t n = frame(buf, true, WS_OP_CLOSE, "\x03\xe8" "bye", 5);
    size_t after = n;
    n += frame(buf + n, true, WS_OP_TEXT, "late", 4);
    size_t used = 0;
    cr_assert_eq(ws_decode(d, buf, n, &used, record, &s), SL_ECLOSED);
    cr_assert_eq(used, after);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.op[0], WS_OP_CLOSE);
    cr_assert_eq(s.len[0], 5);
    cr_assert_eq(ws_decode(d, buf + after, n - after, &used, record, &s),
                 SL_ECLOSED);
    cr_assert_eq(s.n, 1);
    ws_decoder_free(d);

    /* An empty close is fine too. */
    d = ws_decoder_new(4610);
    memset(&s, 0, sizeof s);
    n = frame(buf, true, WS_OP_CLOSE, "", 0);
    cr_assert_eq(ws_decode(d, buf, n, &used, record, &s), SL_ECLOSED);
    cr_assert_eq(s.len[0], 0);
    ws_decoder_free(d);

    n = frame(buf, true, WS_OP_CLOSE, "\x03", 1);
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_CLOSE, "\x03\xed", 2);          /* 1005 */
    expect_failure(buf, n, 4610, SL_EPROTO, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_CLOSE, "\x03\xe8\xff", 3);
    expect_failure(buf, n, 4610, SL_EUTF8, WS_CLOSE_BAD_DATA);
    n = frame(buf, true, WS_OP_CLOSE, "\x0f\xa0", 2);          /* 4000 */
    d = ws_decoder_new(4610);
    cr_assert_eq(ws_decode(d, buf, n, &used, record, &s), SL_ECLOSED);
    ws_decoder_free(d);
}

Test(ws_decode, eagain_offers_the_same_message_again)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    struct seen s = { .eagain_left = 2 };
    uint8_t buf[64];
    size_t first = frame(buf, true, WS_OP_TEXT, "one", 3);
    size_t n = first + frame(buf + first, true, WS_OP_TEXT, "two", 3);
    size_t used = 0;
    cr_assert_eq(ws_decode(d, buf, n, &used, record, &s), SL_EAGAIN);
    cr_assert_eq(used, first);
    cr_assert_eq(s.n, 0);
    /* Called again with no new bytes: still throttled. */
    cr_assert_eq(ws_decode(d, NULL, 0, &used, record, &s), SL_EAGAIN);
    cr_assert_eq(used, 0);
    /* Then the same message, and the rest. */
    cr_assert_eq(ws_decode(d, buf + first, n - first, &used, record, &s),
                 SL_OK);
    cr_assert_eq(used, n - first);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.data[0], "one");
    cr_assert_str_eq(s.data[1], "two");
    ws_decoder_free(d);
}

static enum sl_err refuse(void *ud, int opcode, char *data, size_t len)
{
    (void)ud; (void)opcode; (void)data; (void)len;
    return SL_EPERM;
}

Test(ws_decode, callback_errors_are_returned)
{
    struct ws_decoder *d = ws_decoder_new(4610);
    uint8_t buf[64];
    size_t n = frame(buf, true, WS_OP_TEXT, "QUIT", 4);
    size_t used = 0;
    cr_assert_eq(ws_decode(d, buf, n, &used, refuse, NULL), SL_EPERM);
    cr_assert_eq(ws_decoder_close_code(d), 0);
    ws_decoder_free(d);
    ws_decoder_free(NULL);
}

Test(ws_line, trailing_line_ending_and_embedded_breaks)
{
    size_t len = 8;
    cr_assert_eq(ws_message_line("PING x\r\n", &len), SL_OK);
    cr_assert_eq(len, 6);
    len = 7;
    cr_assert_eq(ws_message_line("PING x\n", &len), SL_OK);
    cr_assert_eq(len, 6);
    len = 6;
    cr_assert_eq(ws_message_line("PING x", &len), SL_OK);
    cr_assert_eq(len, 6);
    len = 7;
    cr_assert_eq(ws_message_line("PING x\r", &len), SL_EPROTO);
    len = 12;
    cr_assert_eq(ws_message_line("PING a\r\nQUIT", &len), SL_EPROTO);
    len = 2;
    cr_assert_eq(ws_message_line("\r\n", &len), SL_OK);
    cr_assert_eq(len, 0);
}

Test(ws_handshake, accept_key_rfc6455_example)
{
    char out[WS_ACCEPT_LEN + 1];
    /* RFC 6455 section 1.3. */
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ws_accept_key("  dGhlIHNhbXBsZSBub25jZQ== ", out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(ws_handshake, key_validity)
{
    cr_assert(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    cr_assert(ws_key_valid(" dGhlIHNhbXBsZSBub25jZQ==\t"));
    cr_assert_not(ws_key_valid(""));
    cr_assert_not(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ"));     /* no pad */
    cr_assert_not(ws_key_valid("dGhlIHNhbXBsZQ=="));           /* 10 bytes */
    cr_assert_not(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=!"));
    cr_assert_not(ws_key_valid("dGhlIHNhbXBsZSBub2*jZQ=="));
    cr_assert_not(ws_key_valid("dGhlIHNhbXBsZSBub25jZSBub25jZQ=="));
}

Test(ws_handshake, subprotocols)
{
    cr_assert_str_eq(ws_subprotocol_pick("text.ircv3.net"), "text.ircv3.net");
    cr_assert_str_eq(ws_subprotocol_pick("binary.ircv3.net, text.ircv3.net"),
                     "binary.ircv3.net");
    cr_assert_str_eq(ws_subprotocol_pick("chat, text.ircv3.net,binary.ircv3.net"),
                     "text.ircv3.net");
    cr_assert_null(ws_subprotocol_pick("chat, superchat"));
    cr_assert_null(ws_subprotocol_pick("text.ircv3.netx, xtext.ircv3.net"));
    cr_assert_null(ws_subprotocol_pick(""));
    cr_assert_eq(ws_subprotocol_framing(NULL), WIRE_WS_TEXT);
    cr_assert_eq(ws_subprotocol_framing("text.ircv3.net"), WIRE_WS_TEXT);
    cr_assert_eq(ws_subprotocol_framing("binary.ircv3.net"), WIRE_WS_BINARY);
}
