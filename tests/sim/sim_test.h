/*
 * sim_test.h - seeds and assertions for simulation tests.
 *
 * Each test takes its seed from RINGKV_SIM_SEED when set (to replay a
 * failed run), else from its own fixed default, and every assertion
 * message starts with the seed and the command-line way to replay it.
 */
#ifndef RINGKV_TESTS_SIM_SIM_TEST_H
#define RINGKV_TESTS_SIM_SIM_TEST_H

#include <check.h>
#include <inttypes.h>
#include <stdlib.h>

static uint64_t sim_test_current_seed;

static inline uint64_t sim_test_seed(uint64_t fallback)
{
    const char *env = getenv("RINGKV_SIM_SEED");
    sim_test_current_seed = env && *env ? strtoull(env, NULL, 0) : fallback;
    return sim_test_current_seed;
}

#define SIM_ASSERT(cond, fmt, ...)                                                                 \
    ck_assert_msg((cond), "[seed %" PRIu64 "; replay: RINGKV_SIM_SEED=%" PRIu64 "] " fmt,         \
                  sim_test_current_seed, sim_test_current_seed, ##__VA_ARGS__)

#endif
