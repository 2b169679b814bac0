#include "lib/wire.h"

#include <string.h>

size_t wire_ws_header_len(size_t len)
{
    if (len < 126)
        return 2;
    if (len <= 0xFFFF)
        return 4;
    return 10;
}

size_t wire_ws_header(uint8_t *out, int opcode, size_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* A whole frame (header, then payload) written to out; returns its size. */
static size_t ws_frame_into(int opcode, const void *payload, size_t len, char *out)
{
    size_t hl = wire_ws_header((uint8_t *)out, opcode, len);
    if (len)
        memcpy(out + hl, payload, len);
    return hl + len;
}

struct msgbuf *wire_ws_frame(int opcode, const void *payload, size_t len)
{
    struct msgbuf *mb = msgbuf_new(wire_ws_header_len(len) + len);
    ws_frame_into(opcode, payload, len, mb->data);
    return mb;
}

size_t wire_frame_size(enum wire_framing f, size_t len)
{
    return f == WIRE_LINE ? len + 2 : wire_ws_header_len(len) + len;
}

size_t wire_frame_into(enum wire_framing f, const char *line, size_t len, char *out)
{
    switch (f) {
    case WIRE_WS_TEXT:
        return ws_frame_into(WS_OP_TEXT, line, len, out);
    case WIRE_WS_BINARY:
        return ws_frame_into(WS_OP_BINARY, line, len, out);
    case WIRE_LINE:
    default:
        memcpy(out, line, len);
        out[len] = '\r';
        out[len + 1] = '\n';
        return len + 2;
    }
}

struct msgbuf *wire_frame(enum wire_framing f, const char *line, size_t len)
{
    struct msgbuf *mb = msgbuf_new(wire_frame_size(f, len));
    wire_frame_into(f, line, len, mb->data);
    return mb;
}
