/* Tests for the chat core (src/core: room, user, fanout, history, message).
 * Output is observed in each user's own struct outq: a tiny test formatter
 * writes ":source COMMAND p1 p2 ..." (prefixed "@time " / "@msg " for the
 * tag sets), and the tests read the lines queued in each outq. Criterion
 * runs each test in its own process, so the room and nick tables start
 * empty in every test. The "bug_" tests pin down defects and fail until
 * core/ is fixed (see each comment). */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/message.h"
#include "core/session.h"
#include "core/room.h"
#include "core/user.h"
#include "lib/clock.h"
#include "lib/outq.h"
#include "lib/utf8.h"
#include "policy/gate.h"

/* ---- fixture ---- */

#define NU 128
static struct outq Q[NU];
static struct user *U[NU];
static int format_calls;

static size_t test_format(char *out, size_t cap, const struct event *ev, unsigned tags)
{
    format_calls++;
    size_t n = 0;
    int k = snprintf(out, cap, "%s%s:%s %s", (tags & FANOUT_TAG_TIME) ? "@time " : "",
                     (tags & FANOUT_TAG_MSG) ? "@msg " : "", ev->source, ev->command);
    if (k < 0 || (size_t)k >= cap)
        return 0;
    n = (size_t)k;
    for (size_t i = 0; i < ev->nparams; i++) {
        k = snprintf(out + n, cap - n, " %s", ev->params[i] ? ev->params[i] : "(nil)");
        if (k < 0 || (size_t)k >= cap - n)
            return 0;
        n += (size_t)k;
    }
    return n;
}

static void drain_pending(void)
{
    while (outq_pending_pop())
        ;
}

/* Empties every queue (and the global pending list). */
static void clear_all(void)
{
    drain_pending();
    for (int i = 0; i < NU; i++)
        outq_cleanup(&Q[i]);
}

static void configure_rooms(bool user_rooms, unsigned max_rooms)
{
    struct room_config c = {.user_rooms = user_rooms, .max_rooms_per_user = max_rooms,
                            .history_memory = 10};
    room_configure(&c);
}

static void setup(void)
{
    history_init(NULL, 0);
    fanout_set_formatter(test_format);
    configure_rooms(true, 20);
    for (int i = 0; i < NU; i++)
        outq_init(&Q[i], 1 << 20, WIRE_LINE);
}

static void teardown(void)
{
    for (int i = 0; i < NU; i++) {
        if (U[i]) {
            user_quit(U[i], "end");
            user_free(U[i]);
            U[i] = NULL;
        }
    }
    clear_all();
}

TestSuite(room, .init = setup, .fini = teardown);
TestSuite(user, .init = setup, .fini = teardown);
TestSuite(fanout, .init = setup, .fini = teardown);
TestSuite(history, .init = setup, .fini = teardown);
TestSuite(message, .init = setup, .fini = teardown);
TestSuite(mask);

/* A registered user i with its own queue; the session starts with 8 hex
 * digits unique to i, so the cloak "xxxxxxxx.salon" is unique too. */
static struct user *mkuser_f(int i, const char *nick, enum wire_framing framing, uint8_t wants)
{
    cr_assert_lt(i, NU);
    cr_assert_null(U[i]);
    outq_init(&Q[i], 1 << 20, framing);
    char session[SESSION_ID_LEN + 1];
    snprintf(session, sizeof session, "%08x%024x", 0xa0000000u + (unsigned)i, 0u);
    U[i] = user_new(&Q[i], session);
    cr_assert_not_null(U[i]);
    cr_assert_eq(user_set_nick(U[i], nick), SL_OK, "nick %s", nick);
    user_register(U[i]);
    U[i]->wants = wants;
    return U[i];
}

static struct user *mkuser(int i, const char *nick)
{
    return mkuser_f(i, nick, WIRE_LINE, 0);
}

static void drop_user(int i)
{
    user_quit(U[i], "gone");
    user_free(U[i]);
    U[i] = NULL;
}

static struct room *join_ok(struct user *u, const char *name)
{
    struct room *r = NULL;
    enum room_deny d = room_join(u, name, NULL, &r);
    cr_assert_eq(d, ROOM_OK, "%s joining %s: %d", u->nick, name, d);
    cr_assert_not_null(r);
    return r;
}

/* Walks the frames queued in q, across entries (a room's messages of one
 * turn share an entry): finds frame `want` (its text, CRLF or WebSocket
 * header removed, into out) and returns how many frames there are. */
static uint32_t frames(const struct outq *q, uint32_t want, char *out, size_t cap)
{
    static char all[1 << 16];
    size_t n = 0;
    for (uint32_t i = 0; i < q->count; i++) {
        const struct outq_ent *e = outq_entry(q, i);
        cr_assert_leq(n + e->len, sizeof all);
        memcpy(all + n, e->mb->data + e->off, e->len);
        n += e->len;
    }
    cr_assert_eq(n, q->bytes);
    uint32_t k = 0;
    for (size_t at = 0; at < n; k++) {
        const char *p;
        size_t len;
        if (q->framing == WIRE_LINE) {
            const char *crlf = memmem(all + at, n - at, "\r\n", 2);
            cr_assert_not_null(crlf, "line not CRLF-terminated");
            p = all + at;
            len = (size_t)(crlf - p);
            at += len + 2;
        } else {
            cr_assert_geq(n - at, 2);
            size_t plen = (unsigned char)all[at + 1] & 0x7f;
            cr_assert_lt(plen, 126, "test lines are short");
            cr_assert_geq(n - at, plen + 2);
            p = all + at + 2;
            len = plen;
            at += plen + 2;
        }
        if (k == want && out) {
            cr_assert_lt(len, cap);
            memcpy(out, p, len);
            out[len] = '\0';
        }
    }
    return k;
}

/* How many lines are queued on q. */
static uint32_t nlines(const struct outq *q)
{
    return frames(q, UINT32_MAX, NULL, 0);
}

/* The text of queued line i of q (CRLF or WebSocket header removed). */
static const char *line_at(const struct outq *q, uint32_t i, char *out, size_t cap)
{
    cr_assert_lt(i, nlines(q));
    frames(q, i, out, cap);
    return out;
}

/* The msgbuf behind queued entry i of q. */
static struct msgbuf *mb_at(const struct outq *q, uint32_t i)
{
    cr_assert_lt(i, q->count);
    return outq_entry(q, i)->mb;
}

/* How many queued lines of q have this command. */
static int count_cmd(const struct outq *q, const char *cmd)
{
    int n = 0;
    for (uint32_t i = 0, lines = nlines(q); i < lines; i++) {
        char line[1024];
        line_at(q, i, line, sizeof line);
        const char *s = strstr(line, ":");
        cr_assert_not_null(s);
        s = strchr(s, ' ');
        cr_assert_not_null(s);
        s++;
        size_t cl = strlen(cmd);
        if (strncmp(s, cmd, cl) == 0 && (s[cl] == ' ' || s[cl] == '\0'))
            n++;
    }
    return n;
}

/* Last queued line of q. */
static const char *last_line(const struct outq *q, char *out, size_t cap)
{
    uint32_t n = nlines(q);
    cr_assert_gt(n, 0);
    return line_at(q, n - 1, out, cap);
}

/* Every member's membership record points back at its slot, and every
 * membership of u is found in its room at the recorded index. */
static void check_room(const struct room *r)
{
    for (uint32_t i = 0; i < r->nmembers; i++) {
        const struct user *m = r->members[i];
        int found = 0;
        for (uint16_t k = 0; k < m->nrooms; k++) {
            if (m->rooms[k].room == r) {
                found++;
                cr_assert_eq(m->rooms[k].index, i, "%s in %s: index %u, slot %u", m->nick,
                             r->name, m->rooms[k].index, i);
            }
        }
        cr_assert_eq(found, 1, "%s listed in %s %d times", m->nick, r->name, found);
    }
}

static void check_user(const struct user *u)
{
    for (uint16_t k = 0; k < u->nrooms; k++) {
        const struct room *r = u->rooms[k].room;
        cr_assert_not_null(room_find(r->name), "%s is in a destroyed room", u->nick);
        cr_assert_lt(u->rooms[k].index, r->nmembers);
        cr_assert_eq(r->members[u->rooms[k].index], u, "%s: stale index in %s", u->nick,
                     r->name);
        for (uint16_t j = 0; j < k; j++)
            cr_assert_neq(u->rooms[j].room, r, "%s twice in %s", u->nick, r->name);
    }
}

static uint32_t rng = 2463534242u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* ---- rooms: life cycle ---- */

Test(room, catalogue_room_persists_when_empty)
{
    struct room *c = room_add_catalogue("#Accueil", "Bienvenue", ROOM_CAT_THEME);
    cr_assert_not_null(c);
    cr_assert(c->is_catalogue);
    cr_assert_eq(c->category, ROOM_CAT_THEME);
    cr_assert_str_eq(c->topic, "Bienvenue");
    cr_assert_eq(room_find("#accueil"), c, "lookup is case-insensitive");
    cr_assert_eq(room_find("#ACCUEIL"), c);
    cr_assert_eq(room_count(), 1);
    /* Adding it again updates, never duplicates. */
    cr_assert_eq(room_add_catalogue("#accueil", "Autre", ROOM_CAT_REGION), c);
    cr_assert_eq(room_count(), 1);
    cr_assert_str_eq(c->topic, "Autre");

    struct user *a = mkuser(0, "alice");
    struct room *r = join_ok(a, "#ACCUEIL");
    cr_assert_eq(r, c);
    cr_assert_eq(room_member_modes(c, a), 0, "nobody is op of a catalogue room by joining");
    cr_assert_eq(room_part(a, c, NULL), ROOM_OK);
    cr_assert_eq(room_find("#accueil"), c, "catalogue room vanished when empty");
    cr_assert_eq(c->nmembers, 0);
    cr_assert_str_eq(c->topic, "Autre");
    cr_assert_eq(room_count(), 1);
}

Test(room, user_room_created_with_op_and_removed_when_empty)
{
    struct user *a = mkuser(0, "alice"), *b = mkuser(1, "bob");
    cr_assert_eq(room_count(), 0);
    struct room *r = join_ok(a, "#Fans");
    cr_assert_not(r->is_catalogue);
    cr_assert_str_eq(r->name, "#Fans");
    cr_assert_eq(room_count(), 1);
    cr_assert_eq(room_member_modes(r, a), ROOM_MEMBER_OP, "creator is op");
    cr_assert(r->modes & ROOM_MODE_NO_EXTERNAL);
    cr_assert(r->modes & ROOM_MODE_TOPIC_OPS);
    cr_assert_not_null(r->history);
    cr_assert_eq(join_ok(b, "#fans"), r);
    cr_assert_eq(room_member_modes(r, b), 0, "second joiner is not op");
    cr_assert_eq(r->nmembers, 2);
    cr_assert_eq(room_part(a, r, "bye"), ROOM_OK);
    cr_assert_eq(room_find("#fans"), r, "one member left: room stays");
    cr_assert_eq(room_part(b, r, NULL), ROOM_OK);
    cr_assert_null(room_find("#fans"), "empty user room must vanish");
    cr_assert_eq(room_count(), 0);
    /* Re-creating it makes a fresh room whose creator is op. */
    r = join_ok(b, "#FANS");
    cr_assert_str_eq(r->name, "#FANS");
    cr_assert_eq(room_member_modes(r, b), ROOM_MEMBER_OP);
}

Test(room, creation_off_still_allows_catalogue)
{
    configure_rooms(false, 20);
    room_add_catalogue("#paris", "Paris", ROOM_CAT_REGION);
    struct user *a = mkuser(0, "alice");
    struct room *r = NULL;
    cr_assert_eq(room_join(a, "#nouveau", NULL, &r), ROOM_CREATION_OFF);
    cr_assert_null(room_find("#nouveau"));
    cr_assert_eq(a->nrooms, 0);
    join_ok(a, "#Paris");
}

Test(room, iteration_visits_each_room)
{
    room_add_catalogue("#a", NULL, ROOM_CAT_THEME);
    room_add_catalogue("#b", "", ROOM_CAT_AGE);
    struct user *u = mkuser(0, "u");
    join_ok(u, "#c");
    size_t pos = 0, n = 0;
    int seen = 0;
    struct room *r;
    while ((r = room_next(&pos)) != NULL) {
        n++;
        seen |= 1 << (r->name[1] - 'a');
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(seen, 7);
    cr_assert_null(room_find("#b")->topic, "an empty topic is no topic");
}

/* ---- rooms: join errors ---- */

Test(room, bad_names_are_refused)
{
    struct user *a = mkuser(0, "alice");
    char longest[ROOM_NAME_MAX + 2];
    memset(longest, 'x', sizeof longest);
    longest[0] = '#';
    longest[ROOM_NAME_MAX] = '\0';          /* exactly ROOM_NAME_MAX bytes */
    cr_assert(room_name_valid(longest));
    longest[ROOM_NAME_MAX] = 'x';
    longest[ROOM_NAME_MAX + 1] = '\0';      /* one too long */
    const char *bad[] = {"", "#", "room", "&room", "#a b", "#a,b", "#a\x07", "#a\x7f",
                         "#a:b", "#a\tb", "#a\r", longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_not(room_name_valid(bad[i]), "\"%s\" valid", bad[i]);
        struct room *r = NULL;
        cr_assert_eq(room_join(a, bad[i], NULL, &r), ROOM_BAD_NAME, "\"%s\"", bad[i]);
    }
    cr_assert_eq(room_count(), 0);
    cr_assert_eq(a->nrooms, 0);
    const char *good[] = {"#a", "#salon-2024", "#caf\xc3\xa9", "#[x]"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(room_name_valid(good[i]), "\"%s\" invalid", good[i]);
}

Test(room, already_member)
{
    struct user *a = mkuser(0, "alice");
    struct room *r = join_ok(a, "#x"), *r2 = NULL;
    clear_all();
    cr_assert_eq(room_join(a, "#X", NULL, &r2), ROOM_ALREADY_MEMBER);
    cr_assert_eq(r2, r);
    cr_assert_eq(r->nmembers, 1);
    cr_assert_eq(nlines(&Q[0]), 0, "no second JOIN");
}

Test(room, invite_only_and_one_shot_invite)
{
    struct user *op = mkuser(0, "op"), *b = mkuser(1, "Bob"), *c = mkuser(2, "carol");
    struct room *r = join_ok(op, "#club");
    join_ok(c, "#club");
    cr_assert(room_set_flag(r, ROOM_MODE_INVITE, true));
    cr_assert_not(room_set_flag(r, ROOM_MODE_INVITE, true), "already set: no change");
    struct room *out = NULL;
    cr_assert_eq(room_join(b, "#club", NULL, &out), ROOM_INVITE_ONLY);
    /* Only an operator invites into a +i room; not a member, not at all. */
    cr_assert_eq(room_invite(c, r, b), ROOM_NOT_OP);
    struct user *d = mkuser(3, "dave");
    cr_assert_eq(room_invite(d, r, b), ROOM_NOT_MEMBER);
    cr_assert_eq(room_invite(op, r, c), ROOM_ALREADY_MEMBER);
    cr_assert_eq(room_invite(op, r, b), ROOM_OK);
    cr_assert_eq(room_invite(op, r, b), ROOM_OK, "inviting twice is harmless");
    cr_assert_eq(r->ninvites, 1);
    cr_assert_eq(room_join(d, "#club", NULL, &out), ROOM_INVITE_ONLY, "invite is per nick");
    cr_assert_eq(room_join(b, "#club", NULL, &out), ROOM_OK);
    cr_assert_eq(r->ninvites, 0, "the invite was used up");
    cr_assert_eq(room_part(b, r, NULL), ROOM_OK);
    cr_assert_eq(room_join(b, "#club", NULL, &out), ROOM_INVITE_ONLY, "invite passed twice");
    /* Invites match nicks case-insensitively. */
    cr_assert_eq(room_invite(op, r, b), ROOM_OK);
    cr_assert_eq(user_set_nick(b, "BOB"), SL_OK);
    cr_assert_eq(room_join(b, "#club", NULL, &out), ROOM_OK);
    /* In a -i room any member may invite. */
    cr_assert(room_set_flag(r, ROOM_MODE_INVITE, false));
    cr_assert_eq(room_invite(c, r, d), ROOM_OK);
}

Test(room, invite_list_is_bounded)
{
    struct user *op = mkuser(0, "op");
    struct room *r = join_ok(op, "#club");
    room_set_flag(r, ROOM_MODE_INVITE, true);
    /* Unregistered users are enough to be invited. */
    struct outq q;
    outq_init(&q, 1 << 20, WIRE_LINE);
    struct user *many[ROOM_BANS_MAX + 5];
    for (int i = 0; i < ROOM_BANS_MAX + 5; i++) {
        many[i] = user_new(&q, "ffffffffffffffffffffffffffffffff");
        char nick[24];
        snprintf(nick, sizeof nick, "guest%d", i);
        cr_assert_eq(user_set_nick(many[i], nick), SL_OK);
        cr_assert_eq(room_invite(op, r, many[i]), ROOM_OK);
        cr_assert_leq(r->ninvites, ROOM_BANS_MAX);
    }
    /* The oldest were dropped, the newest kept. */
    struct room *out;
    user_register(many[0]);
    user_register(many[ROOM_BANS_MAX + 4]);
    cr_assert_eq(room_join(many[0], "#club", NULL, &out), ROOM_INVITE_ONLY);
    cr_assert_eq(room_join(many[ROOM_BANS_MAX + 4], "#club", NULL, &out), ROOM_OK);
    for (int i = 0; i < ROOM_BANS_MAX + 5; i++) {
        user_quit(many[i], "x");
        user_free(many[i]);
    }
    drain_pending();
    outq_cleanup(&q);
}

Test(room, key)
{
    struct user *op = mkuser(0, "op"), *b = mkuser(1, "bob");
    struct room *r = join_ok(op, "#k"), *out = NULL;
    cr_assert(room_set_key(r, "s3cret"));
    cr_assert_str_eq(r->key, "s3cret");
    cr_assert_eq(room_join(b, "#k", NULL, &out), ROOM_BAD_KEY);
    cr_assert_eq(room_join(b, "#k", "", &out), ROOM_BAD_KEY);
    cr_assert_eq(room_join(b, "#k", "S3CRET", &out), ROOM_BAD_KEY, "keys are case-sensitive");
    cr_assert_eq(room_join(b, "#k", "s3cre", &out), ROOM_BAD_KEY);
    cr_assert_eq(room_join(b, "#k", "s3cret", &out), ROOM_OK);
    cr_assert_eq(room_part(b, r, NULL), ROOM_OK);
    cr_assert(room_set_key(r, NULL));
    cr_assert_not(room_set_key(r, NULL), "already unset");
    cr_assert_eq(room_join(b, "#k", NULL, &out), ROOM_OK);
    /* A key longer than ROOM_KEY_MAX is cut, not overflowed. */
    char longkey[64];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    room_set_key(r, longkey);
    cr_assert_eq(strlen(r->key), ROOM_KEY_MAX);
}

Test(room, limit)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    struct room *r = join_ok(a, "#l"), *out = NULL;
    cr_assert(room_set_limit(r, 2));
    cr_assert_not(room_set_limit(r, 2));
    join_ok(b, "#l");
    cr_assert_eq(room_join(c, "#l", NULL, &out), ROOM_FULL);
    cr_assert_eq(c->nrooms, 0);
    room_part(b, r, NULL);
    join_ok(c, "#l");
    cr_assert(room_set_limit(r, 0));
    join_ok(b, "#l");
    cr_assert_eq(r->nmembers, 3);
}

Test(room, bans)
{
    struct user *op = mkuser(0, "op"), *bad = mkuser(1, "BadGuy"), *ok = mkuser(2, "nice");
    struct room *r = join_ok(op, "#b"), *out = NULL;
    cr_assert(room_add_ban(r, "bad*!*@*"));
    cr_assert_not(room_add_ban(r, "BAD*!*@*"), "same mask, other case: not added twice");
    cr_assert_eq(r->nbans, 1);
    cr_assert(room_is_banned(r, bad));
    cr_assert_not(room_is_banned(r, ok));
    cr_assert_eq(room_join(bad, "#b", NULL, &out), ROOM_BANNED);
    cr_assert_eq(room_join(ok, "#b", NULL, &out), ROOM_OK);
    /* Ban by cloak: the session-derived host in the user's mask. */
    char mask[USER_MASK_MAX];
    user_mask(ok, mask);
    cr_assert_str_eq(mask, "nice!~u@a0000002.salon");
    room_part(ok, r, NULL);
    cr_assert(room_add_ban(r, "*!*@A0000002.SALON"));
    cr_assert_eq(room_join(ok, "#b", NULL, &out), ROOM_BANNED);
    cr_assert(room_del_ban(r, "*!*@a0000002.salon"));
    cr_assert_not(room_del_ban(r, "*!*@a0000002.salon"));
    cr_assert_eq(room_join(ok, "#b", NULL, &out), ROOM_OK);
    /* Changing nick escapes a nick ban: the mask is evaluated at join. */
    cr_assert_eq(user_set_nick(bad, "goodguy"), SL_OK);
    cr_assert_eq(room_join(bad, "#b", NULL, &out), ROOM_OK);
    cr_assert(room_del_ban(r, "BAD*!*@*"));
    cr_assert_eq(r->nbans, 0);
}

Test(room, ban_list_is_bounded)
{
    struct user *op = mkuser(0, "op");
    struct room *r = join_ok(op, "#b");
    for (int i = 0; i < ROOM_BANS_MAX; i++) {
        char m[32];
        snprintf(m, sizeof m, "n%d!*@*", i);
        cr_assert(room_add_ban(r, m));
    }
    cr_assert_not(room_add_ban(r, "one-more!*@*"));
    cr_assert_eq(r->nbans, ROOM_BANS_MAX);
}

Test(room, too_many_rooms)
{
    configure_rooms(true, 3);
    struct user *a = mkuser(0, "a");
    join_ok(a, "#r1");
    join_ok(a, "#r2");
    join_ok(a, "#r3");
    struct room *out = NULL;
    cr_assert_eq(room_join(a, "#r4", NULL, &out), ROOM_TOO_MANY);
    cr_assert_null(room_find("#r4"), "no room is created for a refused join");
    room_part(a, room_find("#r2"), NULL);
    join_ok(a, "#r4");
    cr_assert_eq(a->nrooms, 3);
}

Test(room, join_broadcasts_to_every_member_including_joiner)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    join_ok(a, "#j");
    join_ok(b, "#j");
    clear_all();
    join_ok(c, "#j");
    char line[256];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nlines(&Q[i]), 1, "user %d got %u lines", i, nlines(&Q[i]));
        cr_assert_str_eq(last_line(&Q[i], line, sizeof line), ":c!~u@a0000002.salon JOIN #j");
    }
}

/* ---- rooms: part, kick, topic ---- */

Test(room, part)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    struct room *r = join_ok(a, "#p");
    join_ok(b, "#p");
    cr_assert_eq(room_part(c, r, NULL), ROOM_NOT_MEMBER);
    clear_all();
    cr_assert_eq(room_part(b, r, "see you"), ROOM_OK);
    char line[256];
    cr_assert_str_eq(last_line(&Q[0], line, sizeof line), ":b!~u@a0000001.salon PART #p see you");
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":b!~u@a0000001.salon PART #p see you");
    cr_assert_eq(nlines(&Q[2]), 0);
    cr_assert_eq(room_member_modes(r, b), -1);
    cr_assert_eq(b->nrooms, 0);
    cr_assert_eq(room_part(b, r, NULL), ROOM_NOT_MEMBER);
    clear_all();
    join_ok(b, "#p");
    clear_all();
    room_part(b, r, NULL);
    cr_assert_str_eq(last_line(&Q[0], line, sizeof line), ":b!~u@a0000001.salon PART #p");
}

Test(room, kick_permissions)
{
    struct user *op = mkuser(0, "op"), *b = mkuser(1, "b"), *c = mkuser(2, "c"),
                *out = mkuser(3, "outsider");
    struct room *r = join_ok(op, "#k");
    join_ok(b, "#k");
    join_ok(c, "#k");
    cr_assert_eq(room_kick(out, r, b, "x"), ROOM_NOT_MEMBER);
    cr_assert_eq(room_kick(b, r, c, "x"), ROOM_NOT_OP);
    cr_assert_eq(room_kick(op, r, out, "x"), ROOM_TARGET_NOT_MEMBER);
    cr_assert_eq(r->nmembers, 3);
    clear_all();
    cr_assert_eq(room_kick(op, r, c, "behave"), ROOM_OK);
    char line[256];
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(last_line(&Q[i], line, sizeof line),
                         ":op!~u@a0000000.salon KICK #k c behave", "user %d", i);
    cr_assert_eq(nlines(&Q[3]), 0);
    cr_assert_eq(room_member_modes(r, c), -1);
    cr_assert_eq(c->nrooms, 0);
    check_room(r);
    /* A voiced member is still not an operator. */
    room_set_member_mode(r, b, ROOM_MEMBER_VOICE, true);
    cr_assert_eq(room_kick(b, r, op, "x"), ROOM_NOT_OP);
    /* An op given by mode may kick. */
    join_ok(c, "#k");
    cr_assert(room_set_member_mode(r, c, ROOM_MEMBER_OP, true));
    cr_assert_not(room_set_member_mode(r, c, ROOM_MEMBER_OP, true));
    cr_assert_eq(room_kick(c, r, b, "x"), ROOM_OK);
    cr_assert_not(room_set_member_mode(r, b, ROOM_MEMBER_OP, true), "not a member");
}

Test(room, kicking_the_last_member_removes_a_user_room)
{
    struct user *op = mkuser(0, "op");
    struct room *r = join_ok(op, "#solo");
    cr_assert_eq(room_kick(op, r, op, "self"), ROOM_OK);
    cr_assert_null(room_find("#solo"));
    cr_assert_eq(op->nrooms, 0);
}

Test(room, topic_permissions)
{
    struct user *op = mkuser(0, "op"), *b = mkuser(1, "b"), *out = mkuser(2, "out");
    struct room *r = join_ok(op, "#t");
    join_ok(b, "#t");
    cr_assert(r->modes & ROOM_MODE_TOPIC_OPS);
    cr_assert_eq(room_set_topic(out, r, "x"), ROOM_NOT_MEMBER);
    cr_assert_eq(room_set_topic(b, r, "x"), ROOM_NOT_OP);
    cr_assert_null(r->topic);
    clear_all();
    int64_t before = clock_wall_ms();
    cr_assert_eq(room_set_topic(op, r, "Hello all"), ROOM_OK);
    cr_assert_str_eq(r->topic, "Hello all");
    cr_assert_str_eq(r->topic_by, "op");
    cr_assert_geq(r->topic_time_ms, before);
    char line[256];
    cr_assert_str_eq(last_line(&Q[0], line, sizeof line), ":op!~u@a0000000.salon TOPIC #t Hello all");
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":op!~u@a0000000.salon TOPIC #t Hello all");
    cr_assert_eq(nlines(&Q[2]), 0);
    /* -t: any member. */
    room_set_flag(r, ROOM_MODE_TOPIC_OPS, false);
    cr_assert_eq(room_set_topic(b, r, "by b"), ROOM_OK);
    cr_assert_str_eq(r->topic_by, "b");
    /* An empty topic clears it. */
    cr_assert_eq(room_set_topic(b, r, ""), ROOM_OK);
    cr_assert_null(r->topic);
    /* Longer than ROOM_TOPIC_MAX: cut. */
    char big[ROOM_TOPIC_MAX + 100];
    memset(big, 't', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    clear_all();
    cr_assert_eq(room_set_topic(b, r, big), ROOM_OK);
    cr_assert_eq(strlen(r->topic), ROOM_TOPIC_MAX);
}

/* BUG (core/room.c room_set_topic, and room_add_catalogue): a topic longer
 * than ROOM_TOPIC_MAX is cut with strnlen, in the middle of a multi-byte
 * character when one straddles the limit. irc/ passes the client's (valid
 * UTF-8) text straight in, so the stored topic ends in a broken sequence
 * that is broadcast and shown on every join; on WebSocket text frames
 * (RFC 6455 section 8.1) browsers then fail the connection.
 * Fix: cut with utf8_truncate(topic, strlen(topic), ROOM_TOPIC_MAX). */
Test(room, bug_topic_cut_inside_utf8_character)
{
    struct user *op = mkuser(0, "op");
    struct room *r = join_ok(op, "#t");
    char topic[ROOM_TOPIC_MAX + 8];
    memset(topic, 'a', ROOM_TOPIC_MAX - 1);
    strcpy(topic + ROOM_TOPIC_MAX - 1, "\xc3\xa9\xc3\xa9");   /* "éé" across the limit */
    cr_assert(utf8_valid(topic, strlen(topic)));
    cr_assert_eq(room_set_topic(op, r, topic), ROOM_OK);
    cr_assert_leq(strlen(r->topic), ROOM_TOPIC_MAX);
    cr_assert(utf8_valid(r->topic, strlen(r->topic)), "stored topic ends inside a character");
}

/* ---- rooms: who may send ---- */

Test(room, can_send_rules)
{
    struct user *op = mkuser(0, "op"), *v = mkuser(1, "voiced"), *m = mkuser(2, "member"),
                *out = mkuser(3, "outsider");
    struct room *r = join_ok(op, "#s");
    join_ok(v, "#s");
    join_ok(m, "#s");
    room_set_member_mode(r, v, ROOM_MEMBER_VOICE, true);
    cr_assert_eq(room_member_modes(r, v), ROOM_MEMBER_VOICE);

    /* +n (default): outsiders cannot send. */
    cr_assert_eq(room_can_send(r, out), ROOM_CANNOT_SEND);
    cr_assert_eq(room_can_send(r, m), ROOM_OK);
    room_set_flag(r, ROOM_MODE_NO_EXTERNAL, false);
    cr_assert_eq(room_can_send(r, out), ROOM_OK);
    room_set_flag(r, ROOM_MODE_NO_EXTERNAL, true);

    /* +m: only ops and voiced members. */
    room_set_flag(r, ROOM_MODE_MODERATED, true);
    cr_assert_eq(room_can_send(r, op), ROOM_OK);
    cr_assert_eq(room_can_send(r, v), ROOM_OK);
    cr_assert_eq(room_can_send(r, m), ROOM_CANNOT_SEND);
    cr_assert_eq(room_can_send(r, out), ROOM_CANNOT_SEND);
    room_set_member_mode(r, v, ROOM_MEMBER_VOICE, false);
    cr_assert_eq(room_can_send(r, v), ROOM_CANNOT_SEND, "devoiced");
    room_set_flag(r, ROOM_MODE_MODERATED, false);

    /* +b on a member: silenced unless voiced or op. */
    room_add_ban(r, "member!*@*");
    cr_assert_eq(room_can_send(r, m), ROOM_CANNOT_SEND);
    room_set_member_mode(r, m, ROOM_MEMBER_VOICE, true);
    cr_assert_eq(room_can_send(r, m), ROOM_OK);
    room_del_ban(r, "member!*@*");
}

/* BUG (core/room.c room_can_send): a non-member is checked only against
 * +n, never against the ban list, so in a -n room a banned user can part
 * (or be kicked) and keep talking to the room from outside. RFC 2811
 * section 4.3 (and every IRC server) forbids a banned user from sending.
 * Fix: in room_can_send, check room_is_banned(r, u) for non-members too,
 * e.g. "if (modes < 0) return (+n || room_is_banned(r, u)) ? CANNOT_SEND : OK". */
Test(room, bug_banned_non_member_can_send_to_minus_n_room)
{
    struct user *op = mkuser(0, "op"), *bad = mkuser(1, "troll");
    struct room *r = join_ok(op, "#open");
    room_set_flag(r, ROOM_MODE_NO_EXTERNAL, false);
    room_add_ban(r, "troll!*@*");
    cr_assert_eq(room_member_modes(r, bad), -1);
    cr_assert(room_is_banned(r, bad));
    cr_assert_eq(room_can_send(r, bad), ROOM_CANNOT_SEND,
                 "a banned outsider may send to a -n room");
}

/* ---- rooms: membership bookkeeping ---- */

Test(room, member_indices_stay_consistent_under_random_removal)
{
    enum { N = 50 };
    room_add_catalogue("#cat", NULL, ROOM_CAT_THEME);
    for (int i = 0; i < N; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "u%d", i);
        struct user *u = mkuser(i, nick);
        /* Memberships in a varying order, so each user's rooms[] differs. */
        if (i % 2)
            join_ok(u, "#cat");
        join_ok(u, "#big");
        char side[24];
        snprintf(side, sizeof side, "#side%d", i % 5);
        join_ok(u, side);
        if (i % 2 == 0)
            join_ok(u, "#cat");
    }
    struct room *big = room_find("#big");
    cr_assert_eq(big->nmembers, N);
    check_room(big);
    check_room(room_find("#cat"));
    clear_all();

    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint32_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < N; k++) {
        int i = order[k];
        struct user *u = U[i];
        switch (k % 4) {
        case 0:
            cr_assert_eq(room_part(u, big, NULL), ROOM_OK);
            break;
        case 1: {
            char side[24];
            snprintf(side, sizeof side, "#side%d", i % 5);
            struct room *s = room_find(side);
            room_remove_member(s, u);
            room_maybe_destroy(s);
            room_remove_member(big, u);
            room_maybe_destroy(big);        /* frees it only when empty */
            break;
        }
        case 2:
            drop_user(i);
            u = NULL;
            break;
        default:
            room_remove_member(big, u);
            room_remove_member(big, u);     /* twice: no effect */
            room_maybe_destroy(big);
            break;
        }
        clear_all();
        struct room *b = room_find("#big");
        if (k < N - 1) {
            cr_assert_eq(b, big);
            cr_assert_eq(big->nmembers, (uint32_t)(N - 1 - k));
            for (uint32_t m = 0; m < big->nmembers; m++)
                cr_assert_neq(big->members[m], u, "removed user still listed");
            check_room(big);
        }
        check_room(room_find("#cat"));
        for (int s = 0; s < 5; s++) {
            char side[24];
            snprintf(side, sizeof side, "#side%d", s);
            struct room *sr = room_find(side);
            if (sr)
                check_room(sr);
        }
        for (int j = 0; j < N; j++)
            if (U[j])
                check_user(U[j]);
    }
    cr_assert_null(room_find("#big"), "empty user room left behind");
    cr_assert_not_null(room_find("#cat"));
}

/* ---- users ---- */

Test(user, nick_validity)
{
    const char *good[] = {"a", "Z", "[x]", "a1", "x-y", "_", "`^{|}\\", "abcdefghijklmnopqrstuvwxyz0123"};
    const char *bad[] = {"", "1a", "-a", "a b", "a!b", "a@b", "a,b", "#a", "\xc3\xa9",
                         "abcdefghijklmnopqrstuvwxyz01234"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(user_nick_valid(good[i]), "\"%s\"", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(user_nick_valid(bad[i]), "\"%s\"", bad[i]);
}

Test(user, nick_collision_is_case_insensitive)
{
    struct user *a = mkuser(0, "Alice"), *b = mkuser(1, "bob");
    cr_assert_eq(user_count(), 2);
    cr_assert_eq(user_find("ALICE"), a);
    cr_assert_eq(user_set_nick(b, "alice"), SL_EEXIST);
    cr_assert_eq(user_set_nick(b, "ALICE"), SL_EEXIST);
    cr_assert_str_eq(b->nick, "bob");
    cr_assert_eq(user_find("bob"), b);
    /* An unregistered user cannot take a registered nick either. */
    struct outq q;
    outq_init(&q, 1 << 20, WIRE_LINE);
    struct user *n = user_new(&q, "cccccccccccccccccccccccccccccccc");
    cr_assert_str_eq(n->nick, "*");
    cr_assert_eq(user_set_nick(n, "aLiCe"), SL_EEXIST);
    cr_assert_eq(user_set_nick(n, "newbie"), SL_OK);
    cr_assert_null(user_find("newbie"), "unregistered users are not findable");
    user_quit(n, NULL);
    user_free(n);
    /* Changing only the case of one's own nick is allowed. */
    cr_assert_eq(user_set_nick(a, "ALICE"), SL_OK);
    cr_assert_str_eq(a->nick, "ALICE");
    cr_assert_eq(user_find("alice"), a);
    /* The old nick is released on change. */
    cr_assert_eq(user_set_nick(a, "alicia"), SL_OK);
    cr_assert_null(user_find("alice"));
    cr_assert_eq(user_set_nick(b, "Alice"), SL_OK);
    cr_assert_eq(user_find("alice"), b);
    cr_assert_eq(user_find("alicia"), a);
    cr_assert_eq(user_count(), 2);
    drain_pending();
    outq_cleanup(&q);
}

Test(user, nick_broadcast_reaches_each_peer_once)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c"),
                *d = mkuser(3, "d");
    const char *rooms[] = {"#r1", "#r2", "#r3"};
    for (int i = 0; i < 3; i++) {
        join_ok(a, rooms[i]);
        join_ok(b, rooms[i]);
    }
    join_ok(c, "#r2");
    join_ok(d, "#elsewhere");
    clear_all();
    format_calls = 0;
    cr_assert_eq(user_set_nick(a, "alpha"), SL_OK);
    cr_assert_eq(count_cmd(&Q[0], "NICK"), 1, "self");
    cr_assert_eq(count_cmd(&Q[1], "NICK"), 1, "b shares three rooms");
    cr_assert_eq(count_cmd(&Q[2], "NICK"), 1);
    cr_assert_eq(nlines(&Q[3]), 0, "d shares no room");
    char line[256];
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon NICK alpha");
    cr_assert_eq(format_calls, 1, "formatted once for all");
    /* Same nick again: nothing. */
    clear_all();
    cr_assert_eq(user_set_nick(a, "alpha"), SL_OK);
    cr_assert_eq(nlines(&Q[0]) + nlines(&Q[1]) + nlines(&Q[2]), 0);
}

Test(user, quit_reaches_each_peer_once)
{
    struct user *a = mkuser(0, "a");
    for (int i = 1; i <= 10; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "p%d", i);
        mkuser(i, nick);
    }
    /* a in 5 rooms; p1..p10 each in a few of them. */
    for (int r = 0; r < 5; r++) {
        char name[24];
        snprintf(name, sizeof name, "#r%d", r);
        join_ok(a, name);
        for (int i = 1; i <= 10; i++)
            if ((i + r) % 3 != 0)
                join_ok(U[i], name);
    }
    mkuser(11, "loner");
    join_ok(U[11], "#alone");
    clear_all();
    /* Every peer gets exactly one QUIT when a leaves. */
    user_quit(a, "bye");
    for (int i = 1; i <= 10; i++)
        cr_assert_eq(count_cmd(&Q[i], "QUIT"), 1, "p%d", i);
    cr_assert_eq(nlines(&Q[0]), 0, "no QUIT to oneself");
    cr_assert_eq(nlines(&Q[11]), 0);
    cr_assert_eq(a->nrooms, 0);
    cr_assert_null(user_find("a"));
    for (int r = 0; r < 5; r++) {
        char name[24];
        snprintf(name, sizeof name, "#r%d", r);
        struct room *room = room_find(name);
        cr_assert_not_null(room);
        cr_assert_eq(room_member_modes(room, a), -1);
        for (uint32_t m = 0; m < room->nmembers; m++)
            cr_assert_neq(room->members[m], a);
        check_room(room);
    }
    user_free(a);
    U[0] = NULL;
}

static void count_visit(struct user *p, void *ud)
{
    int *visits = ud;
    visits[p->session[7] - '0']++;
}

Test(user, for_each_peer_visits_each_once)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    mkuser(3, "d");
    join_ok(a, "#x");
    join_ok(a, "#y");
    join_ok(b, "#x");
    join_ok(b, "#y");
    join_ok(c, "#y");
    int visits[10] = {0};
    user_for_each_peer(a, count_visit, visits);
    cr_assert_eq(visits[0], 0, "not oneself");
    cr_assert_eq(visits[1], 1);
    cr_assert_eq(visits[2], 1);
    cr_assert_eq(visits[3], 0);
    /* Twice in a row: the generation mark resets correctly. */
    memset(visits, 0, sizeof visits);
    user_for_each_peer(a, count_visit, visits);
    cr_assert_eq(visits[1] + visits[2], 2);
}

Test(user, quit_leaves_no_membership_and_removes_user_rooms)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    room_add_catalogue("#cat", NULL, ROOM_CAT_THEME);
    join_ok(a, "#cat");
    join_ok(a, "#mine");
    join_ok(a, "#shared");
    join_ok(b, "#shared");
    clear_all();
    user_quit(a, "Leaving");
    cr_assert_eq(a->nrooms, 0);
    cr_assert_null(a->rooms);
    cr_assert_null(room_find("#mine"), "a's own room vanished");
    cr_assert_not_null(room_find("#cat"));
    cr_assert_eq(room_find("#cat")->nmembers, 0);
    cr_assert_eq(room_find("#shared")->nmembers, 1);
    char line[256];
    cr_assert_eq(nlines(&Q[1]), 1);
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon QUIT Leaving");
    cr_assert_eq(user_count(), 1);
    /* Quitting twice is harmless. */
    user_quit(a, "again");
    cr_assert_eq(nlines(&Q[1]), 1);
    user_free(a);
    U[0] = NULL;
    user_free(NULL);
}

Test(user, away_notifies_only_peers_that_asked)
{
    struct user *a = mkuser(0, "a");
    struct user *b = mkuser_f(1, "b", WIRE_LINE, USER_WANTS_AWAY_NOTIFY);
    struct user *c = mkuser(2, "c");
    struct user *d = mkuser_f(3, "d", WIRE_LINE, USER_WANTS_AWAY_NOTIFY);
    join_ok(a, "#x");
    join_ok(b, "#x");
    join_ok(c, "#x");
    (void)d;
    clear_all();
    user_set_away(a, "lunch");
    cr_assert_str_eq(a->away, "lunch");
    char line[256];
    cr_assert_eq(nlines(&Q[1]), 1);
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon AWAY lunch");
    cr_assert_eq(nlines(&Q[0]), 0);
    cr_assert_eq(nlines(&Q[2]), 0);
    cr_assert_eq(nlines(&Q[3]), 0, "not a peer");
    clear_all();
    user_set_away(a, NULL);
    cr_assert_null(a->away);
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon AWAY");
}

/* BUG (core/user.c user_set_away): same cut as the topic's: AWAY_MAX is
 * applied with strnlen, so an away message with a multi-byte character
 * across byte 200 is stored and sent (away-notify, RPL_AWAY) as invalid
 * UTF-8. Fix: xstrndup(text, utf8_truncate(text, strlen(text), AWAY_MAX)). */
Test(user, bug_away_cut_inside_utf8_character)
{
    struct user *a = mkuser(0, "a");
    char text[AWAY_MAX + 8];
    memset(text, 'a', AWAY_MAX - 1);
    strcpy(text + AWAY_MAX - 1, "\xe2\x82\xac");      /* "€" across the limit */
    cr_assert(utf8_valid(text, strlen(text)));
    user_set_away(a, text);
    cr_assert_leq(strlen(a->away), AWAY_MAX);
    cr_assert(utf8_valid(a->away, strlen(a->away)), "stored away text ends inside a character");
}

/* ---- fan-out ---- */

Test(fanout, one_msgbuf_per_encoding_shared_by_reference)
{
    /* 5 plain TCP, 3 WebSocket text, 2 TCP with server-time, 1 WS binary,
     * 2 WS text with server-time + message-tags. */
    struct user *all[13];
    int n = 0;
    for (int i = 0; i < 5; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "t%d", i);
        all[n] = mkuser_f(n, nick, WIRE_LINE, 0);
        n++;
    }
    for (int i = 0; i < 3; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "w%d", i);
        all[n] = mkuser_f(n, nick, WIRE_WS_TEXT, USER_WANTS_AWAY_NOTIFY);
        n++;
    }
    for (int i = 0; i < 2; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "tt%d", i);
        all[n] = mkuser_f(n, nick, WIRE_LINE, USER_WANTS_TIME);
        n++;
    }
    all[n] = mkuser_f(n, "bin", WIRE_WS_BINARY, 0);
    n++;
    for (int i = 0; i < 2; i++) {
        char nick[24];
        snprintf(nick, sizeof nick, "wm%d", i);
        all[n] = mkuser_f(n, nick, WIRE_WS_TEXT, USER_WANTS_TIME | USER_WANTS_TAGS);
        n++;
    }
    for (int i = 0; i < n; i++)
        join_ok(all[i], "#f");
    clear_all();
    format_calls = 0;

    struct room *r = room_find("#f");
    struct event ev = {.time_ms = 1, .source = "srv", .command = "NOTICE",
                       .params = {"#f", "hello"}, .nparams = 2};
    room_broadcast(r, &ev, NULL);
    for (int i = 0; i < n; i++)
        cr_assert_eq(nlines(&Q[i]), 1, "user %d", i);

    struct msgbuf *plain = mb_at(&Q[0], 0), *ws = mb_at(&Q[5], 0), *tt = mb_at(&Q[8], 0),
                  *bin = mb_at(&Q[10], 0), *wm = mb_at(&Q[11], 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mb_at(&Q[i], 0), plain, "TCP user %d got a copy", i);
    for (int i = 5; i < 8; i++)
        cr_assert_eq(mb_at(&Q[i], 0), ws);
    cr_assert_eq(mb_at(&Q[9], 0), tt);
    cr_assert_eq(mb_at(&Q[12], 0), wm);
    struct msgbuf *set[] = {plain, ws, tt, bin, wm};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++)
            cr_assert_neq(set[i], set[j], "encodings %d and %d shared", i, j);
    /* The round's own references are gone: one per recipient remains. */
    cr_assert_eq(plain->refs, 5);
    cr_assert_eq(ws->refs, 3);
    cr_assert_eq(tt->refs, 2);
    cr_assert_eq(bin->refs, 1);
    cr_assert_eq(wm->refs, 2);
    /* Five encodings, each built on first need: at most one formatting
     * per encoding, at least one per tag set. */
    cr_assert_leq(format_calls, 5);
    cr_assert_geq(format_calls, 3);

    char line[256];
    cr_assert_str_eq(line_at(&Q[0], 0, line, sizeof line), ":srv NOTICE #f hello");
    cr_assert_str_eq(line_at(&Q[5], 0, line, sizeof line), ":srv NOTICE #f hello");
    cr_assert_eq((unsigned char)ws->data[0], 0x81, "WebSocket text frame, FIN");
    cr_assert_eq((unsigned char)bin->data[0], 0x82, "WebSocket binary frame, FIN");
    cr_assert_str_eq(line_at(&Q[8], 0, line, sizeof line), "@time :srv NOTICE #f hello");
    cr_assert_str_eq(line_at(&Q[11], 0, line, sizeof line), "@time @msg :srv NOTICE #f hello");
    cr_assert_eq(Q[0].bytes, plain->len);
}

/* A room's messages of one loop turn are laid end to end, one buffer per
 * encoding: each member queues them as one range. The next turn starts
 * new buffers. */
Test(fanout, room_messages_of_one_turn_leave_in_one_range)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    struct user *w = mkuser_f(2, "w", WIRE_WS_TEXT, 0);
    struct user *t = mkuser_f(3, "t", WIRE_LINE, USER_WANTS_TIME);
    struct room *r = join_ok(a, "#turn");
    join_ok(b, "#turn");
    join_ok(w, "#turn");
    join_ok(t, "#turn");
    clear_all();
    fanout_end_turn();
    struct message_result res;
    cr_assert_eq(message_to_room(a, r, "PRIVMSG", "one", NULL, &res), SL_OK);
    cr_assert_eq(message_to_room(a, r, "PRIVMSG", "two", NULL, &res), SL_OK);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(Q[i].count, 1, "user %d: %u entries", i, Q[i].count);
        cr_assert_eq(nlines(&Q[i]), 2, "user %d", i);
    }
    char line[256];
    cr_assert_str_eq(line_at(&Q[1], 1, line, sizeof line), ":a!~u@a0000000.salon PRIVMSG #turn two");
    cr_assert_str_eq(line_at(&Q[2], 0, line, sizeof line), ":a!~u@a0000000.salon PRIVMSG #turn one");
    cr_assert_str_eq(line_at(&Q[3], 1, line, sizeof line), "@time :a!~u@a0000000.salon PRIVMSG #turn two");
    /* Three encodings, three buffers. */
    struct msgbuf *plain = mb_at(&Q[1], 0);
    cr_assert_neq(mb_at(&Q[2], 0), plain);
    cr_assert_neq(mb_at(&Q[3], 0), plain);
    cr_assert_neq(mb_at(&Q[3], 0), mb_at(&Q[2], 0));

    fanout_end_turn();
    cr_assert_eq(plain->refs, 1, "only b's queue holds the buffer after the turn");
    cr_assert_eq(message_to_room(a, r, "PRIVMSG", "three", NULL, &res), SL_OK);
    cr_assert_eq(Q[1].count, 2, "a new turn, a new buffer");
    cr_assert_neq(mb_at(&Q[1], 1), plain);
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon PRIVMSG #turn three");
    clear_all();
    fanout_end_turn();
}

Test(fanout, except_and_one)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    struct room *r = join_ok(a, "#e");
    join_ok(b, "#e");
    clear_all();
    struct event ev = {.source = "a!~u@x", .command = "PRIVMSG", .params = {"#e", "hi"},
                       .nparams = 2};
    room_broadcast(r, &ev, a);
    cr_assert_eq(nlines(&Q[0]), 0);
    cr_assert_eq(nlines(&Q[1]), 1);
    fanout_one(a, &ev);
    cr_assert_eq(nlines(&Q[0]), 1);
    cr_assert_eq(mb_at(&Q[0], 0)->refs, 1);
    cr_assert(Q[0].is_pending, "a queue with output is on the pending list");
}

Test(fanout, sendq_exceeded_recipient_is_skipped)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    struct room *r = join_ok(a, "#q");
    join_ok(b, "#q");
    join_ok(c, "#q");
    clear_all();
    Q[1].limit = 30;        /* b's SendQ: less than one line */
    struct event ev = {.source = "a!~u@a0000000.salon", .command = "PRIVMSG",
                       .params = {"#q", "a fairly long line of chat text"}, .nparams = 2};
    struct fanout f;
    fanout_init(&f, &ev);
    for (uint32_t i = 0; i < r->nmembers; i++)
        fanout_to(&f, r->members[i]);
    fanout_done(&f);
    cr_assert(Q[1].is_sendq_exceeded);
    cr_assert(Q[1].is_closing);
    cr_assert_eq(nlines(&Q[1]), 0);
    cr_assert_eq(nlines(&Q[0]), 1);
    cr_assert_eq(nlines(&Q[2]), 1);
    cr_assert_eq(mb_at(&Q[0], 0)->refs, 2, "the refused push kept no reference");
    /* Later rounds skip b without touching its queue. */
    fanout_init(&f, &ev);
    fanout_to(&f, b);
    fanout_done(&f);
    cr_assert_eq(f.deliveries, 0);
    cr_assert_eq(nlines(&Q[1]), 0);
}

/* BUG (core/fanout.c fanout_to): fanout.h promises "skips users whose
 * connection is closing", but only is_sendq_exceeded is checked. A user
 * whose connection net/ is about to close (QUIT sent, K-lined, ping timeout)
 * still gets room traffic queued behind its farewell ERROR line, so the
 * client sees chat after "ERROR :Closing link".
 * Fix: in fanout_to, "if (q->is_closing) return;" (outq_push itself must
 * keep taking last words, so the check belongs in fan-out). */
Test(fanout, bug_closing_connection_still_receives_fanout)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    struct room *r = join_ok(a, "#c");
    join_ok(b, "#c");
    clear_all();
    outq_close(&Q[1], "Quit");
    struct event ev = {.source = "a!~u@a0000000.salon", .command = "PRIVMSG",
                       .params = {"#c", "hi"}, .nparams = 2};
    room_broadcast(r, &ev, NULL);
    cr_assert_eq(nlines(&Q[0]), 1);
    cr_assert_eq(nlines(&Q[1]), 0, "a closing connection was sent room traffic");
}

/* ---- messages (core/message.c: gate, history, fan-out, echo) ---- */

static int collect_n;
static char collected[16][128];
static void collect(const struct store_msg *m, void *ud)
{
    (void)ud;
    snprintf(collected[collect_n++ % 16], sizeof collected[0], "%s", m->text);
}

Test(message, to_room_delivers_records_and_echoes)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    struct user *e = mkuser_f(2, "echo", WIRE_LINE, USER_WANTS_ECHO);
    struct user *out = mkuser(3, "out");
    struct room *r = join_ok(a, "#m");
    join_ok(b, "#m");
    join_ok(e, "#m");
    clear_all();
    struct message_result res;
    cr_assert_eq(message_to_room(a, r, "PRIVMSG", "hello", NULL, &res), SL_OK);
    cr_assert_eq(nlines(&Q[0]), 0, "no echo unless asked");
    cr_assert_eq(nlines(&Q[1]), 1);
    cr_assert_eq(nlines(&Q[2]), 1);
    char line[256];
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon PRIVMSG #m hello");
    cr_assert_eq(message_to_room(e, r, "NOTICE", "n", NULL, &res), SL_OK);
    cr_assert_eq(nlines(&Q[2]), 2, "echo-message");
    cr_assert_eq(count_cmd(&Q[2], "NOTICE"), 1);
    /* +n: an outsider is refused before anything is recorded. */
    cr_assert_eq(message_to_room(out, r, "PRIVMSG", "spam", NULL, &res), SL_EPERM);
    collect_n = 0;
    cr_assert(history_latest(r->history, 10, collect, NULL));
    cr_assert_eq(collect_n, 2);
    cr_assert_str_eq(collected[0], "hello");
    cr_assert_str_eq(collected[1], "n");
}

Test(message, tagmsg_only_for_message_tags_and_not_recorded)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b");
    struct user *t = mkuser_f(2, "tags", WIRE_LINE, USER_WANTS_TAGS);
    struct room *r = join_ok(a, "#m");
    join_ok(b, "#m");
    join_ok(t, "#m");
    clear_all();
    struct message_result res;
    cr_assert_eq(message_to_room(a, r, "TAGMSG", NULL, "+typing=active", &res), SL_OK);
    cr_assert_eq(nlines(&Q[1]), 0);
    cr_assert_eq(nlines(&Q[2]), 1);
    char line[256];
    cr_assert_str_eq(last_line(&Q[2], line, sizeof line), "@msg :a!~u@a0000000.salon TAGMSG #m");
    collect_n = 0;
    cr_assert(history_latest(r->history, 10, collect, NULL));
    cr_assert_eq(collect_n, 0, "TAGMSG is not kept");
}

Test(message, to_user_records_private_history)
{
    struct user *a = mkuser_f(0, "a", WIRE_LINE, USER_WANTS_ECHO), *b = mkuser(1, "b");
    struct message_result res;
    cr_assert_eq(message_to_user(a, b, "PRIVMSG", "psst", NULL, &res), SL_OK);
    cr_assert_eq(res.fate, MESSAGE_SENT, "users without sessions are not subject to consent");
    char line[256];
    cr_assert_str_eq(last_line(&Q[1], line, sizeof line), ":a!~u@a0000000.salon PRIVMSG b psst");
    cr_assert_eq(nlines(&Q[0]), 1, "echo");
    cr_assert_eq(mb_at(&Q[0], 0), mb_at(&Q[1], 0), "same encoding shared with the echo");
    char key[HISTORY_KEY_MAX];
    history_private_key(key, b->session, a->session);
    collect_n = 0;
    cr_assert(history_latest(history_private(key, 100), 10, collect, NULL));
    cr_assert_eq(collect_n, 1);
    cr_assert_str_eq(collected[0], "psst");
}

Test(message, stranger_is_held_until_accepted_and_decline_discards)
{
    struct user *a = mkuser(0, "a"), *b = mkuser(1, "b"), *c = mkuser(2, "c");
    a->sess = session_get(a->session, NULL, 0, false);
    b->sess = session_get(b->session, NULL, 0, false);
    c->sess = session_get(c->session, NULL, 0, false);
    session_attach(a->sess);
    session_attach(b->sess);
    session_attach(c->sess);
    struct message_result res;
    cr_assert_eq(message_to_user(a, b, "PRIVMSG", "one", NULL, &res), SL_OK);
    cr_assert_eq(res.fate, MESSAGE_HELD_NEW);
    cr_assert_eq(message_to_user(a, b, "PRIVMSG", "two", NULL, &res), SL_OK);
    cr_assert_eq(res.fate, MESSAGE_HELD);
    cr_assert_eq(nlines(&Q[1]), 0, "nothing reaches the recipient while held");
    cr_assert_eq(message_accept(b, a), SL_OK);
    cr_assert_eq(nlines(&Q[1]), 2, "both held messages delivered on accept");
    /* The reply needs no request: writing first accepted the replies. */
    cr_assert_eq(message_to_user(b, a, "PRIVMSG", "hi", NULL, &res), SL_OK);
    cr_assert_eq(res.fate, MESSAGE_SENT);
    /* c is declined: its held message is dropped and it may not ask again. */
    cr_assert_eq(message_to_user(c, b, "PRIVMSG", "x", NULL, &res), SL_OK);
    cr_assert_eq(message_decline(b, c), SL_OK);
    cr_assert_eq(nlines(&Q[1]), 2);
    cr_assert_eq(message_to_user(c, b, "PRIVMSG", "y", NULL, &res), SL_EDENIED);
    cr_assert_str_eq(res.code, "PM_DECLINED");
    session_detach(a->sess);
    session_detach(b->sess);
    session_detach(c->sess);
    a->sess = b->sess = c->sess = NULL;
}

/* ---- masks ---- */

Test(mask, glob_semantics)
{
    struct { const char *mask, *text; bool match; } cases[] = {
        {"", "", true},
        {"", "a", false},
        {"*", "", true},
        {"*", "anything at all", true},
        {"**", "x", true},
        {"?", "", false},
        {"?", "a", true},
        {"?", "ab", false},
        {"a?c", "abc", true},
        {"a?c", "ac", false},
        {"abc", "ABC", true},
        {"AbC", "aBc", true},
        {"abc", "abcd", false},
        {"abcd", "abc", false},
        {"a*", "A", true},
        {"*a", "bbbA", true},
        {"*a", "ab", false},
        {"*a*b*c", "xxaxxbxxc", true},
        {"*a*b*c", "xxcxxbxxa", false},
        {"*a*b*c", "abcabc", true},
        {"*a*b*c*", "abcabcx", true},
        {"a*b", "a", false},
        {"a*b", "ab", true},
        {"a*b", "aXXbXXb", true},
        {"a*b", "aXXbXXbc", false},
        {"*!*@*.salon", "nick!~u@abcd1234.salon", true},
        {"*!*@*.salon", "nick!~u@abcd1234.salonx", false},
        {"bad*!*@*", "BadGuy!~u@x.salon", true},
        {"[x]*", "[X]y", true},
        {"[x]*", "x", false},
        {"?*?", "ab", true},
        {"?*?", "a", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(room_mask_match(cases[i].mask, cases[i].text), cases[i].match,
                     "\"%s\" vs \"%s\"", cases[i].mask, cases[i].text);
}

Test(mask, backtracking_stays_fast)
{
    /* Pathological for naive recursive globbing: many stars, a long text
     * that almost matches. Must stay well under a millisecond per call. */
    enum { LEN = 20000 };
    static char text[LEN + 1];
    memset(text, 'a', LEN);
    text[LEN] = '\0';
    const char *masks[] = {"*a*a*a*a*a*a*a*a*b", "*a*b*c", "*aaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
                           "a*a*a*a*a*a*a*a*a*a*?b"};
    int64_t start = clock_mono_ms();
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++)
            cr_assert_not(room_mask_match(masks[i], text), "%s", masks[i]);
    text[LEN - 1] = 'b';
    cr_assert(room_mask_match("*a*a*a*a*a*a*a*a*b", text));
    cr_assert(room_mask_match("*aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", text));
    int64_t took = clock_mono_ms() - start;
    cr_assert_lt(took, 2000, "80 matches on 20 kB took %lld ms", (long long)took);
}

/* ---- history ---- */

static struct store_msg msg(const char *key, int i, char *text)
{
    sprintf(text, "message %d", i);
    return (struct store_msg){.msgid = "id", .time_ms = 1000 + i, .key = key,
                              .sender = "s", .source = "n!u@h", .command = "PRIVMSG",
                              .target = "#h", .text = text};
}

struct got {
    int n;
    int64_t times[64];
    char texts[64][32];
};

static void got_fn(const struct store_msg *m, void *ud)
{
    struct got *g = ud;
    cr_assert_lt(g->n, 64);
    g->times[g->n] = m->time_ms;
    snprintf(g->texts[g->n], sizeof g->texts[0], "%s", m->text);
    g->n++;
}

Test(history, ring_keeps_newest_cap_in_order)
{
    struct history *h = history_open("#h", 5);
    cr_assert_not_null(h);
    char text[32];
    for (int i = 0; i < 12; i++) {
        struct store_msg m = msg("#h", i, text);
        history_add(h, &m);
        /* The ring keeps a copy: the caller's buffer changes right away. */
        strcpy(text, "overwritten");
    }
    struct got g = {0};
    cr_assert(history_latest(h, 5, got_fn, &g));
    cr_assert_eq(g.n, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(g.times[i], 1000 + 7 + i, "position %d", i);
        char want[32];
        sprintf(want, "message %d", 7 + i);
        cr_assert_str_eq(g.texts[i], want);
    }
    g.n = 0;
    cr_assert(history_latest(h, 2, got_fn, &g));
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.times[0], 1010);
    cr_assert_eq(g.times[1], 1011);
    /* More than the ring holds, after it dropped messages: ask storage. */
    g.n = 0;
    cr_assert_not(history_latest(h, 6, got_fn, &g));
    cr_assert_eq(g.n, 0);
    history_close(h);
}

Test(history, latest_true_when_memory_has_everything)
{
    struct history *h = history_open("#small", 10);
    struct got g = {0};
    cr_assert(history_latest(h, 50, got_fn, &g), "an empty memory-only key is complete");
    cr_assert_eq(g.n, 0);
    char text[32];
    for (int i = 0; i < 3; i++) {
        struct store_msg m = msg("#small", i, text);
        history_add(h, &m);
    }
    cr_assert(history_latest(h, 50, got_fn, &g), "all 3 messages ever sent are in memory");
    cr_assert_eq(g.n, 3);
    cr_assert_eq(g.times[0], 1000);
    cr_assert_eq(g.times[2], 1002);
    /* Exactly full, nothing dropped yet: still complete. */
    for (int i = 3; i < 10; i++) {
        struct store_msg m = msg("#small", i, text);
        history_add(h, &m);
    }
    g.n = 0;
    cr_assert(history_latest(h, 11, got_fn, &g));
    cr_assert_eq(g.n, 10);
    g.n = 0;
    cr_assert(history_latest(h, 0, got_fn, &g));
    cr_assert_eq(g.n, 0);
    history_close(h);
}

Test(history, zero_capacity_keeps_nothing)
{
    struct history *h = history_open("#none", 0);
    char text[32];
    struct store_msg m = msg("#none", 1, text);
    history_add(h, &m);
    struct got g = {0};
    history_latest(h, 5, got_fn, &g);
    cr_assert_eq(g.n, 0);
    history_close(h);
    history_close(NULL);
}

Test(history, null_fields_are_stored_as_empty)
{
    struct history *h = history_open("#n", 2);
    struct store_msg m = {.time_ms = 5, .key = "#n"};
    history_add(h, &m);
    struct got g = {0};
    cr_assert(history_latest(h, 1, got_fn, &g));
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.texts[0], "");
    history_close(h);
}

Test(history, private_key_is_symmetric)
{
    char k1[HISTORY_KEY_MAX], k2[HISTORY_KEY_MAX];
    const char *a = "0123456789abcdef0123456789abcdef", *b = "fedcba9876543210fedcba9876543210";
    history_private_key(k1, a, b);
    history_private_key(k2, b, a);
    cr_assert_str_eq(k1, k2);
    cr_assert_str_eq(k1, "@0123456789abcdef0123456789abcdef@fedcba9876543210fedcba9876543210");
    history_private_key(k1, a, a);
    cr_assert_str_eq(k1, "@0123456789abcdef0123456789abcdef@0123456789abcdef0123456789abcdef");
    history_private_key(k1, "b", "a");
    cr_assert_str_eq(k1, "@a@b");
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

Test(history, msgids_are_unique)
{
    enum { N = 100000 };
    char *ids = malloc((size_t)N * HISTORY_MSGID_MAX);
    char **ptrs = malloc((size_t)N * sizeof *ptrs);
    for (int i = 0; i < N; i++) {
        ptrs[i] = ids + (size_t)i * HISTORY_MSGID_MAX;
        history_new_msgid(ptrs[i]);
        size_t len = strlen(ptrs[i]);
        cr_assert_gt(len, 0);
        cr_assert_lt(len, HISTORY_MSGID_MAX);
        /* A msgid is sent as a tag value: no space, ';', '\\' or CR/LF. */
        cr_assert_eq(strcspn(ptrs[i], " ;\\\r\n"), len);
    }
    qsort(ptrs, N, sizeof *ptrs, cmp_str);
    for (int i = 1; i < N; i++)
        cr_assert_str_neq(ptrs[i - 1], ptrs[i], "duplicate msgid");
    free(ptrs);
    free(ids);
}

Test(history, private_rings_are_reused_and_bounded)
{
    history_init(NULL, 2);
    struct history *h1 = history_private("@a@b", 10);
    cr_assert_eq(history_private("@a@b", 10), h1, "same key, same ring");
    char text[32];
    struct store_msg m = msg("@a@b", 1, text);
    history_add(h1, &m);
    struct history *h2 = history_private("@a@c", 10);
    struct store_msg m2 = msg("@a@c", 2, text);
    history_add(h2, &m2);
    /* Touch h1 so that h2 is now the oldest; a third ring evicts h2. */
    cr_assert_eq(history_private("@a@b", 10), h1);
    struct history *h3 = history_private("@b@c", 10);
    cr_assert_not_null(h3);
    struct got g = {0};
    cr_assert(history_latest(history_private("@a@b", 10), 5, got_fn, &g));
    cr_assert_eq(g.n, 1, "the recently used ring survived");
    /* @a@c was evicted (its messages live on in storage): a fresh ring. */
    g.n = 0;
    history_latest(history_private("@a@c", 10), 5, got_fn, &g);
    cr_assert_eq(g.n, 0);
}

/* A session's past nicks and staff actions: newest last, the oldest
 * dropped past SESSION_PAST_MAX, a repeated nick noted once. */
TestSuite(session);

Test(session, past_nicks_and_actions_keep_the_newest)
{
    struct session *s = session_get("past-test-session", NULL, 0, false);
    session_attach(s);
    cr_assert_eq(s->nnicks, 0);
    cr_assert_null(s->actions, "nothing allocated before a staff action");
    char nick[16];
    for (int i = 0; i < SESSION_PAST_MAX + 3; i++) {
        snprintf(nick, sizeof nick, "nick%d", i);
        session_note_nick(s, nick, 1000 + i);
        session_note_nick(s, nick, 2000 + i);
    }
    cr_assert_eq(s->nnicks, SESSION_PAST_MAX);
    cr_assert_str_eq(s->nicks[0].nick, "nick3");
    cr_assert_eq(s->nicks[0].since_ms, 1003, "a repeat keeps the first time");
    cr_assert_str_eq(s->nicks[SESSION_PAST_MAX - 1].nick, "nick10");
    for (int i = 0; i < SESSION_PAST_MAX + 1; i++)
        session_note_action(s, 100 + i, "kick", i ? "again" : NULL, 5000 + i);
    cr_assert_eq(s->nactions, SESSION_PAST_MAX);
    cr_assert_eq(s->actions[0].action_id, 101);
    cr_assert_str_eq(s->actions[0].reason, "again");
    cr_assert_eq(s->actions[SESSION_PAST_MAX - 1].action_id, 100 + SESSION_PAST_MAX);
    session_detach(s);
    cr_assert_null(session_find("past-test-session"), "an ephemeral session goes with its user");
}
