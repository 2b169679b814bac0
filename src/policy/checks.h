#ifndef SALON_POLICY_CHECKS_H
#define SALON_POLICY_CHECKS_H

#include "policy/gate.h"

/* The checks of the gate's chain, one file each. Private to policy/. */
struct verdict check_connection_limit(const struct action *a);
struct verdict check_flood(const struct action *a);
struct verdict check_pm_consent(const struct action *a);
struct verdict check_age(const struct action *a);
struct verdict check_ban(const struct action *a);
struct verdict check_mute(const struct action *a);

/* Shared configuration, set by policy_configure (flood.c). */
extern struct policy_config policy_cfg;

#endif
