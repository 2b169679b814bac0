#ifndef SALON_IRC_IRC_H
#define SALON_IRC_IRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/outq.h"

/* The IRC protocol layer as transports see it: one client per connection,
 * fed one line at a time. Transports (TCP lines, WebSocket messages) call
 * these and nothing else of irc/. */
struct irc_client;

enum irc_transport { IRC_TRANSPORT_TCP, IRC_TRANSPORT_WS };

/* Longest line accepted from a client, tags included: 4096 bytes of tags
 * plus 512 of message (IRCv3 message-tags, "Size limit"). */
#define IRC_LINE_MAX (4096 + 512)

/* Creates the client for a new connection. out is the connection's output
 * queue (borrowed: it outlives the client). addr is the peer address,
 * IPv4-mapped for IPv4 (16 bytes), addr_text its printable form.
 * Returns NULL when the policy gate refuses the connection (for example too
 * many connections from that address); an ERROR line is then queued on out
 * and out is marked closing. */
struct irc_client *irc_client_new(struct outq *out, const uint8_t addr[16],
                                  const char *addr_text, enum irc_transport t);

/* Handles one line (no CR/LF; line[len] may be written to). Returns SL_OK;
 * SL_EAGAIN when the client is throttled: the line was NOT consumed and must
 * be offered again later; any other value means the connection must close
 * (an ERROR has been queued). Bad UTF-8, NUL bytes and oversized lines are
 * answered here, so transports only need to split lines. */
enum sl_err irc_client_line(struct irc_client *c, char *line, size_t len);

/* Milliseconds until a throttled client may send again (0 when it may). */
int64_t irc_client_throttle_ms(const struct irc_client *c);

/* Queues "ERROR :Closing Link: ... (reason)" as the last line of a client
 * whose connection is about to close for reason. */
void irc_client_farewell(struct irc_client *c, const char *reason);

/* The connection is gone: leaves rooms (QUIT :reason to the others) and
 * frees the client. irc_client_free(NULL, ...) is a no-op. */
void irc_client_free(struct irc_client *c, const char *reason);

/* Protocol settings, set once by main.c before the loop runs. */
struct irc_config {
    const char *server_name;
    const char *motd_path;
    bool open_registration;
    int registration_timeout_s;
    int ping_interval_s;
    int ping_timeout_s;
    unsigned history_memory;
    unsigned chathistory_max;           /* ISUPPORT CHATHISTORY */
    size_t sendq;                       /* bytes that may wait for a client */
    int64_t started_wall_ms;
};

void irc_configure(const struct irc_config *cfg);

/* Once a second: registration and ping timeouts (now: monotonic ms). */
void irc_sweep(int64_t now_mono_ms);

/* Registers the fan-out formatter with core; call once at start-up. */
void irc_init(void);

#endif
