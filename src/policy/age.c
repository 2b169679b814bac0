#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "policy/checks.h"
#include "store/store.h"

/* The age rule of the entry gate. salon is adult-only by default: an age
 * under 18 is refused, and the device that gave it is locked out of entry
 * for policy_cfg.age_lock_ms, whatever age it claims next, so the box
 * cannot simply be ticked again (the lock outlives restarts). */
#define AGE_ADULT 18
#define AGE_MAX 120
#define RECORD_KIND "agelock"

struct lock {
    char *device;
    int64_t until_ms;
};

static struct strmap locks;
static struct store *store;

static void set_lock(const char *device, int64_t until_ms)
{
    struct lock *l = strmap_get(&locks, device);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        l->device = xstrdup(device);
        strmap_put(&locks, l->device, l);
    }
    l->until_ms = until_ms;
}

static void load_one(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)value;
    (void)ud;
    set_lock(key, expires_ms);
}

void policy_init_store(struct store *st, int64_t now_wall_ms)
{
    store = st;
    if (st)
        store_load_records(st, RECORD_KIND, now_wall_ms, load_one, NULL);
}

struct verdict check_age(const struct action *a)
{
    if (a->kind != ACTION_ENTER)
        return (struct verdict){.kind = VERDICT_NONE};
    if (a->device) {
        struct lock *l = strmap_get(&locks, a->device);
        if (l && l->until_ms > a->wall_ms) {
            log_info("entry refused: device %.8s is age-locked", a->device);
            return (struct verdict){.kind = VERDICT_DENY, .code = "age_locked",
                                    .retry_ms = l->until_ms - a->wall_ms,
                                    .reason = "This device was refused for age recently"};
        }
    }
    if (a->age < 0 || a->age > AGE_MAX)
        return (struct verdict){.kind = VERDICT_DENY, .code = "invalid_age",
                                .reason = "Age must be a whole number of years"};
    if (a->age < AGE_ADULT) {
        if (a->device) {
            int64_t until = a->wall_ms + policy_cfg.age_lock_ms;
            set_lock(a->device, until);
            if (store)
                store_put_record(store, RECORD_KIND, a->device, "under-age", until);
        }
        log_info("entry refused: under-age (device %.8s locked)", a->device ? a->device : "-");
        return (struct verdict){.kind = VERDICT_DENY, .code = "underage",
                                .reason = "salon is for adults only"};
    }
    return (struct verdict){.kind = VERDICT_NONE};
}
