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

struct msgbuf *wire_ws_frame(int opcode, const void *payload, size_t len)
{
    size_t hl = wire_ws_header_len(len);
    struct msgbuf *mb = msgbuf_new(hl + len);
    wire_ws_header((uint8_t *)mb->data, opcode, len);
    if (len)
        memcpy(mb->data + hl, payload, len);
    return mb;
}

struct msgbuf *wire_frame(enum wire_framing f, const char *line, size_t len)
{
    switch (f) {
    case WIRE_WS_TEXT:
        return wire_ws_frame(WS_OP_TEXT, line, len);
    case WIRE_WS_BINARY:
        return wire_ws_frame(WS_OP_BINARY, line, len);
    case WIRE_LINE:
    default: {
        struct msgbuf *mb = msgbuf_new(len + 2);
        memcpy(mb->data, line, len);
        mb->data[len] = '\r';
        mb->data[len + 1] = '\n';
        return mb;
    }
    }
}
