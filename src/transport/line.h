#ifndef SALON_TRANSPORT_LINE_H
#define SALON_TRANSPORT_LINE_H

#include "lib/err.h"
#include "net/conn.h"

/* IRC over plain TCP: bytes split into lines (RFC 1459 section 2.3 says
 * CRLF; like most servers we also accept a bare LF or a bare CR). */
extern const struct conn_ops line_conn_ops;

/* net_open_fn for the IRC listener: creates the IRC client. */
enum sl_err line_open(struct conn *c);

#endif
