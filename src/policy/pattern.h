#ifndef SALON_POLICY_PATTERN_H
#define SALON_POLICY_PATTERN_H

#include <stddef.h>

/* Framed text for the rules engine (docs/rules.md, "How patterns read the
 * edges of a text").
 *
 * Rules scan each view of a text between two marks that no view ever
 * holds (the normaliser drops control characters): PATTERN_TEXT_START
 * before the first byte and PATTERN_TEXT_END after the last. Patterns are
 * rewritten to read them:
 *   - ^ and \A become the start mark, $, \z and \Z the end mark;
 *   - a \b that opens a pattern (or one of its top-level alternatives, or
 *     of a group that opens it) in front of what can only start with a
 *     letter, digit or '_' becomes \W, which then reads the character
 *     before the word, or the start mark.
 * The meaning is the same but for one thing, which is written down for
 * rule authors: a class that does not take letters, digits or white
 * space ([^0-9], \W, '.') also matches a mark, so "[^0-9]1[0-7]" finds
 * "15" at the very start of a text too.
 *
 * Why: Vectorscan reads a pattern that may match at offset 0 (^, or \b
 * before a word) with an extra anchored automaton; with the packs' 80
 * patterns that doubled the scan (see bench/gatecost and
 * docs/benchmarks.md). With a mark in front, nothing matches at offset 0
 * and every word starts after a character, so the literals alone lead. */

#define PATTERN_TEXT_START '\x01'
#define PATTERN_TEXT_END '\x02'

/* Room PATTERN_FRAME_EXTRA more bytes than the text, for the marks. */
#define PATTERN_FRAME_EXTRA 2

/* The pattern rewritten for framed text, as a string the caller frees.
 * Text it cannot read (an unfinished class or group) is copied as it
 * stands: the engine then refuses it with its own message. */
char *pattern_frame(const char *regex);

/* Writes the start mark, len bytes of text and the end mark to out (which
 * has room for len + PATTERN_FRAME_EXTRA bytes). Returns the framed
 * length. */
size_t pattern_frame_text(const char *text, size_t len, char *out);

#endif
