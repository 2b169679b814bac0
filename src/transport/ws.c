#include "transport/ws.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "irc/irc.h"
#include "lib/alloc.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/msgbuf.h"
#include "lib/outq.h"
#include "lib/utf8.h"

/* RFC 6455 section 1.3: the GUID appended to the key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* RFC 6455 section 5.2: 2 bytes, up to 8 of extended length, 4 of mask. */
#define WS_HEADER_MAX 14
/* A close reason must fit a control frame with its 2-byte code. */
#define WS_CLOSE_REASON_MAX (WS_CONTROL_MAX - 2)
/* Our own ceiling on a configured message size: buf lengths are 32-bit,
 * and an IRC line is far smaller anyway (IRC_LINE_MAX). */
#define WS_MESSAGE_CEILING (1u << 20)

struct ws_decoder {
    struct buf msg;             /* data message being joined, +1 spare byte;
                                 * no storage between messages */
    size_t max_message;
    uint64_t frame_left;        /* payload bytes of this frame still due */
    uint8_t hdr[WS_HEADER_MAX]; /* header bytes seen so far */
    uint8_t hdr_len;
    uint8_t hdr_need;           /* header size, known after 2 bytes */
    uint8_t mask[4];
    uint8_t mask_off;           /* payload bytes unmasked so far, mod 4 */
    uint8_t opcode;             /* of the current frame */
    uint8_t msg_opcode;         /* TEXT/BINARY while a message is open */
    uint8_t pending_op;         /* message waiting for redelivery */
    uint8_t ctl_len;
    bool is_fin;
    bool in_payload;
    bool has_msg;
    bool has_pending;
    bool is_closed;
    uint16_t close_code;
    char ctl[WS_CONTROL_MAX + 1]; /* control payload, +1 spare byte */
};

static bool is_control(int opcode)
{
    return opcode & 0x8;
}

struct ws_decoder *ws_decoder_new(size_t max_message)
{
    struct ws_decoder *d = xcalloc(1, sizeof *d);
    d->max_message = max_message > WS_MESSAGE_CEILING ? WS_MESSAGE_CEILING
                                                      : max_message;
    return d;
}

void ws_decoder_free(struct ws_decoder *d)
{
    if (!d)
        return;
    buf_cleanup(&d->msg);
    free(d);
}

uint16_t ws_decoder_close_code(const struct ws_decoder *d)
{
    return d->close_code;
}

static enum sl_err fail(struct ws_decoder *d, uint16_t code, enum sl_err err)
{
    d->close_code = code;
    d->is_closed = true;
    buf_cleanup(&d->msg);
    return err;
}

/* RFC 6455 section 7.4: codes a peer may send in a close frame. 1005,
 * 1006 and 1015 are reserved for reporting, never sent on the wire. */
static bool close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999);
}

/* Checks the first two header bytes as soon as they arrive, so a broken
 * frame is refused before we wait for (or buffer) anything more. */
static enum sl_err check_first_bytes(struct ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
    int op = b0 & 0x0F;
    uint8_t len7 = b1 & 0x7F;

    /* 5.2: RSV1-3 must be 0 without a negotiated extension (we never
     * negotiate one, permessage-deflate included). */
    if (b0 & 0x70)
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY
        && op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    /* 5.1: a client masks every frame; an unmasked one is refused. */
    if (!(b1 & 0x80))
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    /* 5.5: control frames are never fragmented and carry at most 125. */
    if (is_control(op) && (!(b0 & 0x80) || len7 > WS_CONTROL_MAX))
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    /* 5.4: continuation only inside a message, data only outside one. */
    if (op == WS_OP_CONT && !d->has_msg)
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && d->has_msg)
        return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);

    d->opcode = (uint8_t)op;
    d->is_fin = b0 & 0x80;
    d->hdr_need = (uint8_t)(2 + 4 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
    return SL_OK;
}

/* The header is complete: learn the length and mask, and make room. */
static enum sl_err start_payload(struct ws_decoder *d)
{
    uint8_t len7 = d->hdr[1] & 0x7F;
    uint64_t n = len7;
    size_t at = 2;
    if (len7 == 126) {
        n = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
        at = 4;
    } else if (len7 == 127) {
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | d->hdr[2 + i];
        at = 10;
        /* 5.2: the most significant bit of a 64-bit length must be 0. */
        if (n >> 63)
            return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
    }
    memcpy(d->mask, d->hdr + at, 4);
    d->mask_off = 0;
    d->frame_left = n;
    d->in_payload = true;

    if (is_control(d->opcode)) {
        d->ctl_len = 0;
        return SL_OK;
    }
    /* 7.4.1 (1009): a message over our limit is refused from its header,
     * before any of it is buffered. */
    if (n > d->max_message || d->msg.len + n > d->max_message)
        return fail(d, WS_CLOSE_TOO_BIG, SL_ELIMIT);
    if (!d->has_msg) {
        d->has_msg = true;
        d->msg_opcode = d->opcode;
    }
    if (buf_reserve(&d->msg, (size_t)n + 1, d->max_message + 1))
        return fail(d, WS_CLOSE_TOO_BIG, SL_ELIMIT);
    return SL_OK;
}

/* Offers the pending message (data in msg, control in ctl) to fn. */
static enum sl_err deliver(struct ws_decoder *d, ws_message_fn *fn, void *ud)
{
    int op = d->pending_op;
    bool is_data = !is_control(op);
    char *data = is_data ? d->msg.data : d->ctl;
    size_t len = is_data ? d->msg.len : d->ctl_len;

    d->has_pending = true;
    enum sl_err err = fn(ud, op, data, len);
    if (err == SL_EAGAIN)
        return err;
    d->has_pending = false;
    if (is_data) {
        buf_cleanup(&d->msg);
        d->has_msg = false;
    }
    if (op == WS_OP_CLOSE) {
        d->is_closed = true;
        return err ? err : SL_ECLOSED;
    }
    return err;
}

/* A frame's payload is all in: decide what it completes. */
static enum sl_err end_frame(struct ws_decoder *d, ws_message_fn *fn,
                             void *ud)
{
    d->in_payload = false;
    d->hdr_len = 0;
    d->hdr_need = 0;

    if (d->opcode == WS_OP_CLOSE && d->ctl_len > 0) {
        /* 5.5.1: a body starts with a 2-byte code; the rest is UTF-8. */
        if (d->ctl_len == 1)
            return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
        unsigned code = (uint8_t)d->ctl[0] << 8 | (uint8_t)d->ctl[1];
        if (!close_code_valid(code))
            return fail(d, WS_CLOSE_PROTOCOL, SL_EPROTO);
        if (!utf8_valid(d->ctl + 2, d->ctl_len - 2u))
            return fail(d, WS_CLOSE_BAD_DATA, SL_EUTF8);
    }
    if (is_control(d->opcode)) {
        d->pending_op = d->opcode;
        return deliver(d, fn, ud);
    }
    if (!d->is_fin)
        return SL_OK;
    /* 8.1: a text message must be UTF-8 as a whole (a character may be
     * split between fragments, so only the joined message is checked). */
    if (d->msg_opcode == WS_OP_TEXT && !utf8_valid(d->msg.data, d->msg.len))
        return fail(d, WS_CLOSE_BAD_DATA, SL_EUTF8);
    d->pending_op = d->msg_opcode;
    return deliver(d, fn, ud);
}

enum sl_err ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len,
                      size_t *used, ws_message_fn *fn, void *ud)
{
    enum sl_err err = SL_OK;
    size_t i = 0;

    if (d->is_closed) {
        i = len;        /* nothing after a close frame is read (5.5.1) */
        err = d->close_code ? SL_EPROTO : SL_ECLOSED;
        goto out;
    }
    if (d->has_pending) {
        err = deliver(d, fn, ud);
        if (err)
            goto out;
    }
    for (;;) {
        if (!d->in_payload) {
            while (i < len && d->hdr_len < 2)
                d->hdr[d->hdr_len++] = in[i++];
            if (d->hdr_len < 2)
                break;
            if (!d->hdr_need) {
                err = check_first_bytes(d);
                if (err)
                    goto out;
            }
            while (i < len && d->hdr_len < d->hdr_need)
                d->hdr[d->hdr_len++] = in[i++];
            if (d->hdr_len < d->hdr_need)
                break;
            err = start_payload(d);
            if (err)
                goto out;
        }
        size_t take = len - i;
        if (take > d->frame_left)
            take = (size_t)d->frame_left;
        char *dst = is_control(d->opcode) ? d->ctl + d->ctl_len
                                          : d->msg.data + d->msg.len;
        for (size_t k = 0; k < take; k++)
            dst[k] = (char)(in[i + k] ^ d->mask[(d->mask_off + k) & 3]);
        d->mask_off = (uint8_t)((d->mask_off + take) & 3);
        d->frame_left -= take;
        i += take;
        if (is_control(d->opcode))
            d->ctl_len = (uint8_t)(d->ctl_len + take);
        else
            d->msg.len += (uint32_t)take;
        if (d->frame_left > 0)
            break;      /* i == len: the rest of the payload is to come */
        err = end_frame(d, fn, ud);
        if (err)
            goto out;
    }
out:
    *used = i;
    return err;
}

enum sl_err ws_message_line(const char *data, size_t *len)
{
    size_t n = *len;
    if (n > 0 && data[n - 1] == '\n') {
        n--;
        if (n > 0 && data[n - 1] == '\r')
            n--;
    }
    if (memchr(data, '\r', n) || memchr(data, '\n', n))
        return SL_EPROTO;
    *len = n;
    return SL_OK;
}

/* --- Handshake helpers --- */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Returns the bounds of s without surrounding blanks. */
static size_t trim(const char **s)
{
    const char *p = *s;
    while (is_blank(*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && is_blank(p[n - 1]))
        n--;
    *s = p;
    return n;
}

static bool is_base64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
        || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

bool ws_key_valid(const char *key)
{
    size_t n = trim(&key);
    /* 16 bytes encode to 22 characters and "==" padding. */
    if (n != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key[i]))
            return false;
    return true;
}

void ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char joined[64 + sizeof WS_GUID];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t n = trim(&key);
    if (n > 64)
        n = 64;         /* callers pass a validated 24-byte key */
    memcpy(joined, key, n);
    memcpy(joined + n, WS_GUID, sizeof WS_GUID - 1);
    if (!EVP_Digest(joined, n + sizeof WS_GUID - 1, digest, &dlen,
                    EVP_sha1(), NULL) || dlen != 20) {
        /* Only a broken libcrypto gets here; an empty accept fails the
         * client's check, which is the safe outcome. */
        out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, digest, 20);
}

const char *ws_subprotocol_pick(const char *offer)
{
    static const char *const ours[] = { "text.ircv3.net",
                                        "binary.ircv3.net" };
    const char *p = offer;
    while (*p) {
        while (*p == ',' || is_blank(*p))
            p++;
        const char *tok = p;
        while (*p && *p != ',' && !is_blank(*p))
            p++;
        size_t n = (size_t)(p - tok);
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            if (n && strlen(ours[i]) == n && !strncmp(tok, ours[i], n))
                return ours[i];
        while (*p && *p != ',')
            p++;
    }
    return NULL;
}

enum wire_framing ws_subprotocol_framing(const char *name)
{
    if (name && !strcmp(name, "binary.ircv3.net"))
        return WIRE_WS_BINARY;
    return WIRE_WS_TEXT;
}

/* --- The connection: decoder + IRC client --- */

struct ws_conn {
    struct ws_decoder *dec;
    struct irc_client *client;
    struct conn *c;
    uint16_t line_code;         /* close code for a message that is not
                                 * one IRC line */
    bool has_said_goodbye;      /* close frame queued: send nothing more */
};

/* Queues the IRC goodbye ("ERROR", unless the IRC layer already queued
 * one) and then our close frame, once. 5.5.1: nothing may follow a close
 * frame, so the IRC goodbye goes first. */
static void say_goodbye(struct ws_conn *w, uint16_t code, const char *reason,
                        bool has_irc_error)
{
    if (w->has_said_goodbye)
        return;
    w->has_said_goodbye = true;
    if (!has_irc_error)
        irc_client_farewell(w->client, reason);
    uint8_t payload[WS_CONTROL_MAX];
    size_t rlen = reason ? strlen(reason) : 0;
    rlen = utf8_truncate(reason ? reason : "", rlen, WS_CLOSE_REASON_MAX);
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (rlen)
        memcpy(payload + 2, reason, rlen);
    struct msgbuf *mb = wire_ws_frame(WS_OP_CLOSE, payload, 2 + rlen);
    outq_push(&w->c->out, mb);
    msgbuf_unref(mb);
}

static enum sl_err on_message(void *ud, int opcode, char *data, size_t len)
{
    struct ws_conn *w = ud;
    struct conn *c = w->c;
    enum sl_err err = SL_OK;

    switch (opcode) {
    case WS_OP_PING: {
        /* 5.5.2/5.5.3: answer with a pong carrying the same payload. */
        struct msgbuf *mb = wire_ws_frame(WS_OP_PONG, data, len);
        outq_push(&c->out, mb);
        msgbuf_unref(mb);
        break;
    }
    case WS_OP_PONG:
        break;          /* unsolicited pongs are allowed (5.5.3) */
    case WS_OP_CLOSE: {
        /* 5.5.1: echo the client's code when it sent one. */
        uint16_t code = WS_CLOSE_NORMAL;
        if (len >= 2)
            code = (uint16_t)((uint8_t)data[0] << 8 | (uint8_t)data[1]);
        say_goodbye(w, code, "Client closed connection", false);
        outq_close(&c->out, "Client closed connection");
        break;
    }
    default: {
        err = ws_message_line(data, &len);
        if (err) {
            w->line_code = WS_CLOSE_PROTOCOL;  /* two lines in one message */
            break;
        }
        if (len == 0)
            break;      /* an empty line is ignored, as on TCP */
        /* irc_client_line parses in place; keep the message intact in
         * case it answers SL_EAGAIN and we must offer it again. */
        char line[IRC_LINE_MAX + 1];
        char *p = data;
        if (len < sizeof line) {
            memcpy(line, data, len);
            p = line;
        }
        err = irc_client_line(w->client, p, len);
        break;
    }
    }
    return err;
}

static enum sl_err ws_input(struct conn *c)
{
    struct ws_conn *w = c->proto;
    size_t used = 0;
    enum sl_err err;

    if (c->out.is_closing) {
        buf_consume(&c->in, c->in.len);     /* going away: read nothing */
        return SL_OK;
    }
    err = ws_decode(w->dec, (const uint8_t *)c->in.data, c->in.len, &used,
                    on_message, w);
    buf_consume(&c->in, used);
    if (err == SL_EAGAIN)
        c->throttle_ms = (int32_t)irc_client_throttle_ms(w->client);
    if (err == SL_OK || err == SL_EAGAIN)
        return err;
    if (err == SL_ECLOSED)
        return SL_OK;   /* the echo is queued and the queue is closing */

    uint16_t code = ws_decoder_close_code(w->dec);
    if (!code)
        code = w->line_code;
    if (!code) {
        /* The IRC layer ended the client and queued its ERROR. */
        say_goodbye(w, WS_CLOSE_POLICY, NULL, true);
        return err;
    }
    const char *reason = code == WS_CLOSE_TOO_BIG ? "Message too long"
                       : code == WS_CLOSE_BAD_DATA ? "Invalid UTF-8"
                       : "WebSocket protocol error";
    log_debug("ws %u: closing with %u", (unsigned)c->id, (unsigned)code);
    say_goodbye(w, code, reason, false);
    outq_close(&c->out, reason);
    return err;
}

/* Chooses the close code for a close decided elsewhere. The reasons come
 * from other layers as text, so only the queue flag and a shutdown word
 * are recognised; anything else is a normal closure. */
static uint16_t close_code_for(const struct conn *c, const char *reason)
{
    if (c->out.is_sendq_exceeded)
        return WS_CLOSE_POLICY;
    if (reason && (strcasestr(reason, "shut") || strcasestr(reason, "restart")))
        return WS_CLOSE_GOING_AWAY;
    return WS_CLOSE_NORMAL;
}

static void ws_farewell(struct conn *c, const char *reason)
{
    struct ws_conn *w = c->proto;
    if (w)
        say_goodbye(w, close_code_for(c, reason), reason, false);
}

static void ws_closed(struct conn *c, const char *reason)
{
    struct ws_conn *w = c->proto;
    if (!w)
        return;
    irc_client_free(w->client, reason);
    ws_decoder_free(w->dec);
    free(w);
    c->proto = NULL;
}

const struct conn_ops ws_conn_ops = {
    .input = ws_input,
    .farewell = ws_farewell,
    .closed = ws_closed,
};

enum sl_err ws_start(struct conn *c, enum wire_framing framing,
                     size_t max_message)
{
    char addr[64];
    c->out.framing = (uint8_t)framing;
    conn_addr_text(c, addr, sizeof addr);
    struct irc_client *client = irc_client_new(&c->out, c->addr, addr,
                                               IRC_TRANSPORT_WS);
    if (!client)
        return SL_OK;   /* refused: ERROR queued, the queue is closing */
    struct ws_conn *w = xcalloc(1, sizeof *w);
    w->dec = ws_decoder_new(max_message);
    w->client = client;
    w->c = c;
    conn_set_ops(c, &ws_conn_ops, w);
    if (c->in.len == 0)
        return SL_OK;
    return ws_input(c);
}
