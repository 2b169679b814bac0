#ifndef SALON_POLICY_RISK_H
#define SALON_POLICY_RISK_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/rules.h"

/* Conversation and session risk scores (docs/rules.md). Rules carry
 * grooming signals (rules.h: asking age, secrecy, moving off the platform,
 * photos, meeting, gifts...). Most of them are ordinary talk between
 * adults; several kinds from one person in one conversation are the
 * pattern to catch. So a conversation's score counts each kind once at
 * its weight (a repeat adds a quarter of it, up to twice the weight in
 * all), and multiplies the sum by 1 + 0.5 x (distinct kinds - 1): with
 * weights 15, 25 and 20, three kinds make 60 x 2 = 120. The packs choose
 * the weights (docs/rules.md, "Conversation risk"): everyday signals weigh
 * a few points, and only a grave one alone (asking a person to hide the
 * conversation from their parents) reaches the tip threshold.
 *
 * Scores decay: every weight halves each policy_cfg.risk_half_life_ms, and
 * a kind decayed below one point is forgotten (no longer distinct). Only
 * the sender's own signals count against the sender: a conversation keeps
 * one score per direction. A session's score is the decayed sum of the
 * weights its signals added, over all its conversations and rooms.
 *
 * Thresholds (policy_cfg) fire once each, when first crossed: per
 * conversation direction risk_tip -> EFFECT_SAFETY_TIP (shown to the
 * recipient), risk_review -> EFFECT_REVIEW_CONVERSATION, risk_restrict ->
 * EFFECT_RESTRICT_PM (the sender's new conversations); per session
 * session_review -> EFFECT_REVIEW_CONVERSATION.
 *
 * Memory is bounded: at most policy_cfg.risk_max_conversations
 * conversations (224 bytes each with their index: 100,000 take 22 MB)
 * and as many sessions with signals (40 bytes each); the least recently active
 * goes first. Times are monotonic milliseconds. Session ids are compared
 * exactly. Loop thread only. */

struct risk_update {
    unsigned effects;       /* EFFECT_* of thresholds crossed by this note */
    int conversation;       /* the sender's score in the conversation (0: room) */
    int session;            /* the sender's session score */
};

/* Notes the signals (1 << SIGNAL_* bits, each at weight[kind], 0..100) of
 * one message from session `from` to session `to` (NULL: a room message,
 * which feeds the session score only). Does not count the message (see
 * risk_count_message). out gets the scores after the note, rounded. */
void risk_note(const char *from, const char *to, unsigned signals,
               const int weight[SIGNAL_KINDS], int64_t now_ms, struct risk_update *out);

/* Counts one private message from `from` to `to` (the gate calls this for
 * every private message that went out or was held for consent). */
void risk_count_message(const char *from, const char *to, int64_t now_ms);

/* Messages counted between a and b, both ways (0: they never talked, or
 * the conversation was forgotten). */
unsigned risk_exchanged(const char *a, const char *b);

/* The same three for the gate, with the sessions given by their keys
 * (policy_session_key, checks.h), which it computes once per action
 * rather than once per call here. The caller compares the ids themselves
 * (exactly, as above): `to` is NULL for a room message and for one to
 * oneself, and risk_count_message_keys wants two different sessions. */
void risk_note_keys(uint64_t from, const uint64_t *to, unsigned signals,
                    const int weight[SIGNAL_KINDS], int64_t now_ms, struct risk_update *out);
void risk_count_message_keys(uint64_t from, uint64_t to, int64_t now_ms);
unsigned risk_exchanged_keys(uint64_t a, uint64_t b);

/* What is known of the conversation, seen from `from` (its signals). */
struct risk_view {
    unsigned messages;                  /* both ways */
    int64_t first_ms, last_ms;          /* first and last activity */
    int score;                          /* from's score, decayed to now_ms */
    unsigned kinds;                     /* 1 << SIGNAL_* still counted */
    int64_t seen_ms[SIGNAL_KINDS];      /* last time each kind was seen */
};
bool risk_get(const char *from, const char *to, int64_t now_ms, struct risk_view *out);
/* A session's score decayed to now_ms (0 when unknown). */
int risk_session_score(const char *session, int64_t now_ms);

/* Forgets a session (ended) and every conversation it took part in. Scans
 * every conversation: call it when a session ends, not per message. */
void risk_forget(const char *session);

/* Conversations tracked now (tests, metrics). */
unsigned risk_conversations(void);

#endif
