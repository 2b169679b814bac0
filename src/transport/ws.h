#ifndef SALON_TRANSPORT_WS_H
#define SALON_TRANSPORT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/wire.h"
#include "net/conn.h"

/* The WebSocket transport (RFC 6455) carrying IRC as the IRCv3 WebSocket
 * spec describes: one IRC line per message, subprotocol text.ircv3.net or
 * binary.ircv3.net. Outgoing frames come from lib/wire.h; this module
 * decodes client frames and answers control frames. The contract and the
 * limits are in docs/internals/websocket.md. */

/* RFC 6455 section 5.5: control frame payloads are at most 125 bytes. */
#define WS_CONTROL_MAX 125
/* base64 of a 20-byte SHA-1 digest (RFC 6455 section 4.2.2, item 5.4). */
#define WS_ACCEPT_LEN 28

/* RFC 6455 section 7.4.1 status codes the server sends. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_BAD_DATA = 1007,   /* e.g. a text message that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
};

/* The connection ops installed after a successful upgrade. */
extern const struct conn_ops ws_conn_ops;

/* --- Handshake helpers (pure) --- */

/* True when key (a Sec-WebSocket-Key value, surrounding blanks allowed) is
 * the base64 encoding of exactly 16 bytes (RFC 6455 section 4.1, item 7). */
bool ws_key_valid(const char *key);
/* Writes Sec-WebSocket-Accept for key into out (WS_ACCEPT_LEN + 1 bytes,
 * NUL-terminated): base64(SHA-1(key + RFC 6455 GUID)). Surrounding blanks
 * of key are ignored. */
void ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);
/* Scans one Sec-WebSocket-Protocol value (a comma-separated list, in the
 * client's order of preference) and returns the first subprotocol we speak
 * ("text.ircv3.net" or "binary.ircv3.net", static strings), or NULL. */
const char *ws_subprotocol_pick(const char *offer);
/* The framing for a chosen subprotocol; NULL (none chosen) means text. */
enum wire_framing ws_subprotocol_framing(const char *name);

/* Turns c into a WebSocket connection once the 101 response is queued:
 * sets the framing of c->out, creates the IRC client, installs
 * ws_conn_ops and decodes any bytes already waiting in c->in.
 * max_message bounds one reassembled message. Returns what input would
 * return (SL_OK when the IRC layer refused the client: its ERROR is queued
 * and the queue is closing). c->proto must be NULL when called. */
enum sl_err ws_start(struct conn *c, enum wire_framing framing,
                     size_t max_message);

/* --- Frame decoder (pure: no connection, no IRC) --- */

/* The decoder of one connection's client frames. */
struct ws_decoder;

/* Called once per complete data message (opcode WS_OP_TEXT or
 * WS_OP_BINARY, fragments already joined, text already checked as UTF-8)
 * and once per control frame (WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE with a
 * payload already validated per RFC 6455 section 5.5.1). data[len] is
 * writable; data is valid until the callback returns. Return SL_OK;
 * SL_EAGAIN to have the same message offered again on the next ws_decode
 * call (nothing after it is decoded meanwhile); anything else stops
 * decoding and is returned by ws_decode. */
typedef enum sl_err ws_message_fn(void *ud, int opcode, char *data,
                                  size_t len);

/* Returns a decoder whose data messages are at most max_message bytes.
 * Holds no message buffer until a data frame arrives. */
struct ws_decoder *ws_decoder_new(size_t max_message);
/* Frees d; ws_decoder_free(NULL) does nothing. */
void ws_decoder_free(struct ws_decoder *d);

/* Decodes client frames from in[0..len), calling fn as messages complete.
 * A frame may be split anywhere across calls. *used is set to the bytes
 * consumed (the caller drops them from its buffer; the decoder keeps what
 * it needs). Returns:
 *   SL_OK      every byte used; waiting for more;
 *   SL_EAGAIN  fn asked to retry: call again later (with the remaining
 *              bytes, or none) and the same message is offered first;
 *   SL_ECLOSED a valid close frame was delivered (or had been): stop;
 *   SL_EPROTO, SL_ELIMIT, SL_EUTF8  the client broke RFC 6455; send a
 *              close frame with ws_decoder_close_code() and close;
 *   anything else fn returned. */
enum sl_err ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len,
                      size_t *used, ws_message_fn *fn, void *ud);
/* The RFC 6455 status code for the last error of ws_decode (1002, 1007 or
 * 1009), or 0 when there was none. */
uint16_t ws_decoder_close_code(const struct ws_decoder *d);

/* Strips one trailing "\r\n" or "\n" from a message (IRCv3 WebSocket:
 * one line per message, line ending optional). Returns SL_EPROTO when a CR
 * or LF remains inside (two lines in one message), else SL_OK. */
enum sl_err ws_message_line(const char *data, size_t *len);

#endif
