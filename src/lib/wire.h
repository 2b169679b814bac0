#ifndef SALON_LIB_WIRE_H
#define SALON_LIB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/msgbuf.h"

/* How one IRC line is framed on a connection's wire. Outgoing framing is a
 * leaf utility so that every layer that produces lines (irc replies, core
 * fan-out) can frame them once without calling up into transport/.
 * Incoming WebSocket frames are decoded in transport/ws.c. */
enum wire_framing {
    WIRE_LINE = 0,      /* raw TCP: line + CRLF (RFC 1459 section 2.3) */
    WIRE_WS_TEXT,       /* RFC 6455 text frame, subprotocol text.ircv3.net */
    WIRE_WS_BINARY,     /* RFC 6455 binary frame, subprotocol binary.ircv3.net */
    WIRE_FRAMINGS
};

/* RFC 6455 section 5.2 opcodes used by the server. */
enum {
    WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA,
};

/* Returns the size of an unmasked server frame header for a payload of len. */
size_t wire_ws_header_len(size_t len);
/* Writes an unmasked FIN frame header (opcode, len) into out (at least 10
 * bytes); returns its length. */
size_t wire_ws_header(uint8_t *out, int opcode, size_t len);

/* The size of line[0..len) framed for f, and the framing itself written to
 * out (at least wire_frame_size bytes); wire_frame_into returns the size. */
size_t wire_frame_size(enum wire_framing f, size_t len);
size_t wire_frame_into(enum wire_framing f, const char *line, size_t len, char *out);
/* Returns a new msgbuf holding line[0..len) framed for f: CRLF appended for
 * WIRE_LINE, a frame header prefixed for WebSocket (no CRLF inside the
 * message, per the IRCv3 WebSocket spec). Caller holds one reference. */
struct msgbuf *wire_frame(enum wire_framing f, const char *line, size_t len);
/* Returns a new msgbuf with a WebSocket control or data frame. */
struct msgbuf *wire_ws_frame(int opcode, const void *payload, size_t len);

#endif
