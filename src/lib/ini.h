#ifndef SALON_LIB_INI_H
#define SALON_LIB_INI_H

#include <stdbool.h>

/* salon's INI dialect, used by the configuration file and the rule packs:
 * "[section]" lines, "key = value" lines, and comment lines starting with
 * '#' or ';'. There are no inline comments, so a value may contain ';' or
 * '#'; surrounding blanks are trimmed; a UTF-8 byte order mark is skipped.
 * salon reads it itself because Debian's libinih cuts lines at 200 bytes
 * (a topic may have 390) and strips " ;" from values, and both would
 * silently change a setting. */

#define INI_LINE_MAX 2048

/* Called for each section header (key and value NULL) and each entry.
 * Returns false when the entry is not acceptable; the reader has then
 * already been told the line, and reports it. */
typedef bool ini_entry_fn(void *ud, const char *section, const char *key, const char *value,
                          int lineno);

/* Reads path, calling fn in file order. Errors (unreadable file, long
 * line, bad header, entry outside a section, fn returning false) are
 * written to stderr as "salon: path:line: what"; reading goes on after a
 * bad line so that every mistake is reported at once. Returns true when
 * there was none. */
bool ini_read(const char *path, ini_entry_fn *fn, void *ud);

/* A value that must be a decimal integer in [min, max], whole: false for
 * anything else ("", "12x", an overflow). */
bool ini_long(const char *value, long min, long max, long *out);

#endif
