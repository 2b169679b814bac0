#ifndef SALON_TESTS_UNIT_TEST_RNG_H
#define SALON_TESTS_UNIT_TEST_RNG_H

#include <stdint.h>

/* A small fixed generator for the unit tests' random cases (xorshift64):
 * the same sequence at every run, so that a failure names a case that
 * comes back. One state per test binary. */
static uint64_t test_rng_state = 0x9E3779B97F4A7C15u;

/* A number in [0, below). */
static inline uint32_t test_rng(uint32_t below)
{
    test_rng_state ^= test_rng_state << 13;
    test_rng_state ^= test_rng_state >> 7;
    test_rng_state ^= test_rng_state << 17;
    return (uint32_t)(test_rng_state % below);
}

#endif
