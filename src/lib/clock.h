#ifndef SALON_LIB_CLOCK_H
#define SALON_LIB_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds, for timeouts and rate limits (never goes back). */
int64_t clock_mono_ms(void);
/* Wall-clock milliseconds since the epoch, for timestamps users see. */
int64_t clock_wall_ms(void);
/* Formats ms since the epoch as IRCv3 server-time "YYYY-MM-DDThh:mm:ss.sssZ"
 * into out (at least CLOCK_ISO_LEN + 1 bytes). Returns out. */
#define CLOCK_ISO_LEN 24
char *clock_iso8601(int64_t wall_ms, char *out);
/* Parses the same format (also accepts no milliseconds). Returns -1 when
 * the text is not a timestamp. */
int64_t clock_parse_iso8601(const char *s);

#endif
