#include "core/room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/user.h"
#include "lib/alloc.h"
#include "lib/casemap.h"
#include "lib/clock.h"
#include "lib/glob.h"
#include "lib/strmap.h"
#include "lib/utf8.h"

static struct strmap rooms_by_name;
static struct room_config cfg = {.user_rooms = true, .max_rooms_per_user = 20,
                                 .history_memory = 100};

void room_configure(const struct room_config *c)
{
    cfg = *c;
}

bool room_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 2 || n > ROOM_NAME_MAX || name[0] != '#')
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == ',' || c == 0x7f || c == ':')
            return false;
    }
    return true;
}

struct room *room_find(const char *name)
{
    return strmap_get(&rooms_by_name, name);
}

struct room *room_next(size_t *pos)
{
    return strmap_next(&rooms_by_name, pos);
}

size_t room_count(void)
{
    return rooms_by_name.len;
}

static struct room *room_new(const char *name)
{
    struct room *r = xcalloc(1, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->created_ms = clock_wall_ms();
    r->modes = ROOM_MODE_NO_EXTERNAL | ROOM_MODE_TOPIC_OPS;
    char key[ROOM_NAME_MAX + 1];
    casemap_fold(key, name, sizeof key);
    r->history = history_open(key, cfg.history_memory);
    strmap_put(&rooms_by_name, r->name, r);
    return r;
}

static void room_free(struct room *r)
{
    strmap_del(&rooms_by_name, r->name);
    free(r->topic);
    for (uint32_t i = 0; i < r->nbans; i++)
        free(r->bans[i]);
    free(r->bans);
    for (uint32_t i = 0; i < r->ninvites; i++)
        free(r->invites[i]);
    free(r->invites);
    free(r->members);
    history_close(r->history);
    free(r);
}

struct room *room_add_catalogue(const char *name, const char *topic,
                                enum room_category cat)
{
    struct room *r = room_find(name);
    if (!r)
        r = room_new(name);
    r->is_catalogue = true;
    r->category = cat;
    if (topic && topic[0]) {
        free(r->topic);
        r->topic = xstrndup(topic, utf8_truncate(topic, strlen(topic), ROOM_TOPIC_MAX));
        snprintf(r->topic_by, sizeof r->topic_by, "salon");
        r->topic_time_ms = r->created_ms;
    }
    return r;
}

static struct membership *membership_of(const struct user *u, const struct room *r)
{
    for (uint16_t i = 0; i < u->nrooms; i++)
        if (u->rooms[i].room == r)
            return &u->rooms[i];
    return NULL;
}

struct membership *room_membership(const struct room *r, const struct user *u)
{
    return membership_of(u, r);
}

bool room_is_listed(const struct room *r, const struct user *u)
{
    if (r->is_pending || r->is_closed)
        return false;
    return !(r->modes & ROOM_MODE_INVITE) || (u && membership_of(u, r));
}

int room_member_modes(const struct room *r, const struct user *u)
{
    const struct membership *m = membership_of(u, r);
    return m ? m->modes : -1;
}

bool room_mask_match(const char *mask, const char *text)
{
    return glob_match(mask, text);
}

bool room_is_banned(const struct room *r, const struct user *u)
{
    if (r->nbans == 0)
        return false;
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    for (uint32_t i = 0; i < r->nbans; i++)
        if (room_mask_match(r->bans[i], mask))
            return true;
    return false;
}

static bool take_invite(struct room *r, const struct user *u)
{
    for (uint32_t i = 0; i < r->ninvites; i++) {
        if (casemap_equal(r->invites[i], u->nick)) {
            free(r->invites[i]);
            r->invites[i] = r->invites[--r->ninvites];
            return true;
        }
    }
    return false;
}

static void add_member(struct room *r, struct user *u, uint8_t modes)
{
    if (r->nmembers == r->members_cap) {
        r->members_cap = r->members_cap ? r->members_cap * 2 : 4;
        r->members = xrealloc(r->members, r->members_cap * sizeof *r->members);
    }
    if (u->nrooms == u->rooms_cap) {
        u->rooms_cap = u->rooms_cap ? (uint16_t)(u->rooms_cap * 2) : 2;
        u->rooms = xrealloc(u->rooms, u->rooms_cap * sizeof *u->rooms);
    }
    u->rooms[u->nrooms++] = (struct membership){.room = r, .index = r->nmembers, .modes = modes};
    r->members[r->nmembers++] = u;
}

void room_remove_member(struct room *r, struct user *u)
{
    struct membership *m = membership_of(u, r);
    if (!m)
        return;
    uint32_t idx = m->index;
    /* Swap-remove from the room, then fix the moved member's index. */
    r->members[idx] = r->members[--r->nmembers];
    if (idx < r->nmembers) {
        struct membership *moved = membership_of(r->members[idx], r);
        moved->index = idx;
    }
    *m = u->rooms[--u->nrooms];
    if (u->nrooms == 0) {
        free(u->rooms);
        u->rooms = NULL;
        u->rooms_cap = 0;
    }
}

void room_maybe_destroy(struct room *r)
{
    if (r->nmembers == 0 && !r->is_catalogue)
        room_free(r);
}

void room_broadcast(struct room *r, const struct event *ev, const struct user *except)
{
    struct fanout f;
    fanout_init(&f, ev);
    for (uint32_t i = 0; i < r->nmembers; i++)
        if (r->members[i] != except)
            fanout_to(&f, r->members[i]);
    fanout_done(&f);
}

enum room_deny room_join(struct user *u, const char *name, const char *key,
                         struct room **out_room)
{
    if (!room_name_valid(name))
        return ROOM_BAD_NAME;
    struct room *r = room_find(name);
    if (r && membership_of(u, r)) {
        *out_room = r;
        return ROOM_ALREADY_MEMBER;
    }
    if (u->nrooms >= cfg.max_rooms_per_user)
        return ROOM_TOO_MANY;
    uint8_t modes = 0;
    if (!r) {
        if (!cfg.user_rooms)
            return ROOM_CREATION_OFF;
        r = room_new(name);
        modes = ROOM_MEMBER_OP;
    } else if (r->is_closed) {
        return ROOM_NO_SUCH;
    } else if (r->is_pending) {
        return ROOM_PENDING_REVIEW;
    } else {
        bool invited = take_invite(r, u);
        if (room_is_banned(r, u) && !invited)
            return ROOM_BANNED;
        if ((r->modes & ROOM_MODE_INVITE) && !invited)
            return ROOM_INVITE_ONLY;
        if (r->key[0] && (!key || strcmp(key, r->key) != 0) && !invited)
            return ROOM_BAD_KEY;
        if (r->limit && r->nmembers >= r->limit && !invited)
            return ROOM_FULL;
    }
    add_member(r, u, modes);
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "JOIN",
                       .params = {r->name}, .nparams = 1,
                       .realname = u->realname ? u->realname : ""};
    room_broadcast(r, &ev, NULL);
    *out_room = r;
    return ROOM_OK;
}

enum room_deny room_part(struct user *u, struct room *r, const char *reason)
{
    if (!membership_of(u, r))
        return ROOM_NOT_MEMBER;
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "PART",
                       .params = {r->name, reason}, .nparams = reason ? 2 : 1};
    room_broadcast(r, &ev, NULL);
    room_remove_member(r, u);
    room_maybe_destroy(r);
    return ROOM_OK;
}

enum room_deny room_can_send(const struct room *r, const struct user *u)
{
    int modes = room_member_modes(r, u);
    if (modes < 0)
        return ((r->modes & ROOM_MODE_NO_EXTERNAL) || room_is_banned(r, u)) ? ROOM_CANNOT_SEND
                                                                            : ROOM_OK;
    if (modes & (ROOM_MEMBER_OP | ROOM_MEMBER_VOICE))
        return ROOM_OK;
    if (r->modes & ROOM_MODE_MODERATED)
        return ROOM_CANNOT_SEND;
    if (room_is_banned(r, u))
        return ROOM_CANNOT_SEND;
    return ROOM_OK;
}

enum room_deny room_set_topic(struct user *u, struct room *r, const char *topic)
{
    int modes = room_member_modes(r, u);
    if (modes < 0)
        return ROOM_NOT_MEMBER;
    if ((r->modes & ROOM_MODE_TOPIC_OPS) && !(modes & ROOM_MEMBER_OP))
        return ROOM_NOT_OP;
    free(r->topic);
    r->topic = topic[0] ? xstrndup(topic, utf8_truncate(topic, strlen(topic), ROOM_TOPIC_MAX))
                        : NULL;
    r->topic_time_ms = clock_wall_ms();
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    snprintf(r->topic_by, sizeof r->topic_by, "%s", u->nick);
    struct event ev = {.time_ms = r->topic_time_ms, .source = mask, .command = "TOPIC",
                       .params = {r->name, r->topic ? r->topic : ""}, .nparams = 2};
    room_broadcast(r, &ev, NULL);
    return ROOM_OK;
}

enum room_deny room_kick(struct user *u, struct room *r, struct user *victim,
                         const char *reason)
{
    int modes = room_member_modes(r, u);
    if (modes < 0)
        return ROOM_NOT_MEMBER;
    if (!(modes & ROOM_MEMBER_OP))
        return ROOM_NOT_OP;
    if (room_member_modes(r, victim) < 0)
        return ROOM_TARGET_NOT_MEMBER;
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "KICK",
                       .params = {r->name, victim->nick, reason}, .nparams = 3};
    room_broadcast(r, &ev, NULL);
    room_remove_member(r, victim);
    room_maybe_destroy(r);
    return ROOM_OK;
}

enum room_deny room_invite(struct user *u, struct room *r, struct user *target)
{
    int modes = room_member_modes(r, u);
    if (modes < 0)
        return ROOM_NOT_MEMBER;
    if ((r->modes & ROOM_MODE_INVITE) && !(modes & ROOM_MEMBER_OP))
        return ROOM_NOT_OP;
    if (room_member_modes(r, target) >= 0)
        return ROOM_ALREADY_MEMBER;
    for (uint32_t i = 0; i < r->ninvites; i++)
        if (casemap_equal(r->invites[i], target->nick))
            return ROOM_OK;
    /* Bounded like bans: an operator cannot grow this without limit. */
    if (r->ninvites >= ROOM_BANS_MAX) {
        free(r->invites[0]);
        memmove(r->invites, r->invites + 1, (r->ninvites - 1) * sizeof *r->invites);
        r->ninvites--;
    }
    r->invites = xrealloc(r->invites, (r->ninvites + 1) * sizeof *r->invites);
    r->invites[r->ninvites++] = xstrdup(target->nick);
    return ROOM_OK;
}

bool room_set_flag(struct room *r, uint32_t flag, bool on)
{
    uint32_t before = r->modes;
    r->modes = on ? (r->modes | flag) : (r->modes & ~flag);
    return before != r->modes;
}

bool room_set_key(struct room *r, const char *key)
{
    if (!key) {
        if (!r->key[0])
            return false;
        r->key[0] = '\0';
        return true;
    }
    snprintf(r->key, sizeof r->key, "%s", key);
    return true;
}

bool room_set_limit(struct room *r, uint32_t limit)
{
    if (r->limit == limit)
        return false;
    r->limit = limit;
    return true;
}

bool room_set_slow(struct room *r, uint32_t seconds)
{
    if (r->slow_s == seconds)
        return false;
    r->slow_s = seconds;
    return true;
}

bool room_add_ban(struct room *r, const char *mask)
{
    for (uint32_t i = 0; i < r->nbans; i++)
        if (casemap_equal(r->bans[i], mask))
            return false;
    if (r->nbans >= ROOM_BANS_MAX)
        return false;
    r->bans = xrealloc(r->bans, (r->nbans + 1) * sizeof *r->bans);
    r->bans[r->nbans++] = xstrdup(mask);
    return true;
}

bool room_del_ban(struct room *r, const char *mask)
{
    for (uint32_t i = 0; i < r->nbans; i++) {
        if (casemap_equal(r->bans[i], mask)) {
            free(r->bans[i]);
            r->bans[i] = r->bans[--r->nbans];
            return true;
        }
    }
    return false;
}

bool room_set_member_mode(struct room *r, struct user *u, uint8_t mode, bool on)
{
    struct membership *m = membership_of(u, r);
    if (!m)
        return false;
    uint8_t before = m->modes;
    m->modes = on ? (uint8_t)(m->modes | mode) : (uint8_t)(m->modes & ~mode);
    return before != m->modes;
}
