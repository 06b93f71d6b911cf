/* test_engine_fault.c - power loss and failing I/O, in process, through
 * env_fault over an in-memory env:
 *   - with ENGINE_SYNC_ALWAYS, dropping every unsynced byte loses no
 *     acknowledged write;
 *   - with ENGINE_SYNC_NONE, what survives is a prefix of the writes,
 *     never a state with a hole;
 *   - a write, sync, rename or create that fails at any point of a
 *     workload (or of open) gives a clean error, and reopening afterwards
 *     finds every acknowledged write. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "engine_testutil.h"
#include "storage/engine.h"
#include "storage/env.h"

#define FAULT_KEYS 200

struct fault_db {
    struct env *mem;
    struct env *env;       /* the fault env */
    struct engine_options o;
    struct engine *e;
    char value[FAULT_KEYS][32]; /* "" : absent */
};

static void db_init(struct fault_db *d, enum engine_sync sync)
{
    memset(d, 0, sizeof *d);
    ck_assert_int_eq(env_mem_new(&d->mem), KV_OK);
    ck_assert_int_eq(env_fault_new(d->mem, &d->env), KV_OK);
    tu_small_options(&d->o, d->env);
    d->o.sync = sync;
    ck_assert_int_eq(engine_open("/db", &d->o, &d->e), KV_OK);
}

static void db_free(struct fault_db *d)
{
    if (d->e)
        ck_assert_int_eq(engine_close(d->e), KV_OK);
    env_destroy(d->env);
    env_destroy(d->mem);
}

/* The process dies at this instant: nothing more reaches the disk, and
 * what was not synced is gone. The dead engine's close must not crash. */
static void power_loss(struct fault_db *d)
{
    env_fault_fail_after(d->env, 0, KV_EIO);
    ck_assert_int_eq(env_fault_drop_unsynced(d->env), KV_OK);
    (void)engine_close(d->e); /* fails: its files are gone */
    d->e = NULL;
    env_fault_fail_after(d->env, -1, 0);
}

static void key_of(char *buf, unsigned k) { snprintf(buf, 16, "k%04u", k); }

/* Reads key k: its value, or "" when absent. */
static void read_key(struct engine *e, unsigned k, char *out, size_t n)
{
    char key[16];
    struct kv_buf b = { 0 };
    key_of(key, k);
    int rc = engine_get(e, NULL, tu_s(key), &b);
    ck_assert_msg(rc == KV_OK || rc == KV_ENOTFOUND, "get %s: %s", key, kv_status_str(rc));
    out[0] = 0;
    if (rc == KV_OK) {
        ck_assert_uint_lt(b.len, n);
        memcpy(out, b.data, b.len);
        out[b.len] = 0;
    }
    kv_buf_free(&b);
}

static void expect_model(struct fault_db *d, int uncertain_key, const char *uncertain_value, const char *what)
{
    char got[32];
    for (unsigned k = 0; k < FAULT_KEYS; k++) {
        read_key(d->e, k, got, sizeof got);
        bool ok = strcmp(got, d->value[k]) == 0 ||
                  ((int)k == uncertain_key && strcmp(got, uncertain_value) == 0);
        ck_assert_msg(ok, "%s: k%04u = \"%s\", want \"%s\"", what, k, got, d->value[k]);
        strcpy(d->value[k], got);
    }
}

START_TEST(sync_always_keeps_every_acknowledged_write)
{
    struct fault_db d;
    struct kv_rand r;
    char k[16], v[32];
    db_init(&d, ENGINE_SYNC_ALWAYS);
    kv_rand_seed(&r, 11);
    for (int round = 0; round < 15; round++) {
        int writes = 1 + (int)kv_rand_below(&r, 400);
        for (int i = 0; i < writes; i++) {
            unsigned key = (unsigned)kv_rand_below(&r, FAULT_KEYS);
            key_of(k, key);
            if (kv_rand_below(&r, 8) == 0) {
                ck_assert_int_eq(engine_delete(d.e, tu_s(k)), KV_OK);
                d.value[key][0] = 0;
            } else {
                snprintf(v, sizeof v, "r%d-%d", round, i);
                ck_assert_int_eq(engine_put(d.e, tu_s(k), tu_s(v)), KV_OK);
                strcpy(d.value[key], v);
            }
        }
        power_loss(&d);
        ck_assert_int_eq(engine_open("/db", &d.o, &d.e), KV_OK);
        char what[32];
        snprintf(what, sizeof what, "round %d", round);
        expect_model(&d, -1, "", what);
    }
    db_free(&d);
}
END_TEST

START_TEST(periodic_sync_makes_writes_durable)
{
    struct fault_db d;
    char k[16], v[32];
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(env_mem_new(&d.mem), KV_OK);
    ck_assert_int_eq(env_fault_new(d.mem, &d.env), KV_OK);
    tu_small_options(&d.o, d.env);
    d.o.sync = ENGINE_SYNC_PERIODIC;
    d.o.sync_interval_ms = 10;
    ck_assert_int_eq(engine_open("/db", &d.o, &d.e), KV_OK);
    for (unsigned i = 0; i < 50; i++) {
        key_of(k, i);
        snprintf(v, sizeof v, "p%u", i);
        ck_assert_int_eq(engine_put(d.e, tu_s(k), tu_s(v)), KV_OK);
        strcpy(d.value[i], v);
    }
    /* Wait (up to 10 s, not a speed check) for the sync thread to run. */
    struct engine_stats st;
    engine_get_stats(d.e, &st);
    uint64_t syncs = st.wal_syncs;
    for (int i = 0; i < 1000 && st.wal_syncs == syncs; i++) {
        usleep(10000);
        engine_get_stats(d.e, &st);
    }
    ck_assert_uint_gt(st.wal_syncs, syncs);
    power_loss(&d);
    ck_assert_int_eq(engine_open("/db", &d.o, &d.e), KV_OK);
    expect_model(&d, -1, "", "after a periodic sync");
    db_free(&d);
}
END_TEST

/* Write i stores value "<i>" under key i % FAULT_KEYS. */
START_TEST(sync_none_recovers_a_prefix_of_the_writes)
{
    struct fault_db d;
    struct kv_rand r;
    char k[16], v[32], got[32];
    db_init(&d, ENGINE_SYNC_NONE);
    kv_rand_seed(&r, 12);
    for (int round = 0; round < 15; round++) {
        long base = round * 100000L; /* values of each round are distinct */
        long writes = 1 + (long)kv_rand_below(&r, 3000);
        for (long i = 0; i < writes; i++) {
            key_of(k, (unsigned)(i % FAULT_KEYS));
            snprintf(v, sizeof v, "%ld", base + i);
            ck_assert_int_eq(engine_put(d.e, tu_s(k), tu_s(v)), KV_OK);
        }
        power_loss(&d);
        ck_assert_int_eq(engine_open("/db", &d.o, &d.e), KV_OK);
        /* The newest surviving write of this round is the prefix's end;
         * every key must then hold its last write at or before it. */
        long last = -1;
        for (unsigned key = 0; key < FAULT_KEYS; key++) {
            read_key(d.e, key, got, sizeof got);
            long w = got[0] ? atol(got) - base : -1;
            if (w >= 0 && w < writes && w > last)
                last = w;
        }
        for (unsigned key = 0; key < FAULT_KEYS; key++) {
            read_key(d.e, key, got, sizeof got);
            long want = last - (long)(((last % FAULT_KEYS) - key + FAULT_KEYS) % FAULT_KEYS);
            if (want >= 0) {
                snprintf(v, sizeof v, "%ld", base + want);
                ck_assert_msg(strcmp(got, v) == 0, "round %d: key %u = \"%s\", want \"%s\" (prefix %ld of %ld)",
                              round, key, got, v, last + 1, writes);
            } else {
                /* Not written this round before the prefix end: as the last round left it. */
                ck_assert_msg(strcmp(got, d.value[key]) == 0, "round %d: key %u = \"%s\", want \"%s\"", round,
                              key, got, d.value[key]);
            }
        }
        for (unsigned key = 0; key < FAULT_KEYS; key++)
            read_key(d.e, key, d.value[key], sizeof d.value[key]);
    }
    db_free(&d);
}
END_TEST

/* One workload with the n-th mutating file operation (and all after it)
 * failing: the API reports it, and after reopening everything
 * acknowledged is there. */
static void workload_with_failure(struct fault_db *d, long n, struct kv_rand *r)
{
    char k[16], v[32];
    int uncertain = -1;
    char uncertain_value[32] = "";
    env_fault_fail_after(d->env, n, KV_EIO);
    for (int i = 0; i < 300; i++) {
        unsigned key = (unsigned)kv_rand_below(r, FAULT_KEYS);
        key_of(k, key);
        snprintf(v, sizeof v, "n%ld-%d", n, i);
        bool flush = kv_rand_below(r, 50) == 0;
        int rc = flush ? engine_flush(d->e) : engine_put(d->e, tu_s(k), tu_s(v));
        if (rc != KV_OK) {
            ck_assert_msg(rc == KV_EIO, "n=%ld: unexpected status %s", n, kv_status_str(rc));
            if (!flush) {
                uncertain = (int)key;
                strcpy(uncertain_value, v);
            }
            /* The engine stays stopped: later writes fail too. */
            ck_assert_int_ne(engine_put(d->e, tu_s(k), tu_s("after")), KV_OK);
            break;
        }
        if (!flush)
            strcpy(d->value[key], v);
    }
    (void)engine_close(d->e); /* may fail: the sync of the log is refused too */
    d->e = NULL;
    env_fault_fail_after(d->env, -1, 0);
    ck_assert_int_eq(engine_open("/db", &d->o, &d->e), KV_OK);
    char what[32];
    snprintf(what, sizeof what, "fail after %ld", n);
    expect_model(d, uncertain, uncertain_value, what);
}

START_TEST(failing_io_is_reported_and_reopen_is_consistent)
{
    struct fault_db d;
    struct kv_rand r;
    db_init(&d, _i == 0 ? ENGINE_SYNC_NONE : ENGINE_SYNC_ALWAYS);
    kv_rand_seed(&r, 13 + (uint64_t)_i);
    for (long n = 0; n < 40; n++)
        workload_with_failure(&d, n, &r);
    for (long n = 40; n < 3000; n += 97)
        workload_with_failure(&d, n, &r);
    db_free(&d);
}
END_TEST

START_TEST(failing_open_is_an_error_and_retrying_works)
{
    struct fault_db d;
    char k[16];
    db_init(&d, ENGINE_SYNC_NONE);
    for (unsigned i = 0; i < 500; i++) {
        key_of(k, i % FAULT_KEYS);
        ck_assert_int_eq(engine_put(d.e, tu_s(k), tu_s("v")), KV_OK);
        strcpy(d.value[i % FAULT_KEYS], "v");
    }
    ck_assert_int_eq(engine_close(d.e), KV_OK);
    d.e = NULL;
    for (long n = 0; n < 30; n++) {
        env_fault_fail_after(d.env, n, KV_EIO);
        struct engine *e = NULL;
        int rc = engine_open("/db", &d.o, &e);
        env_fault_fail_after(d.env, -1, 0);
        if (rc == KV_OK) {
            /* n was enough for a whole open, but background work may have
             * met the fault since: start over cleanly. */
            (void)engine_close(e);
            break;
        }
        ck_assert_msg(rc == KV_EIO, "n=%ld: %s", n, kv_status_str(rc));
        ck_assert_ptr_null(e);
    }
    ck_assert_int_eq(engine_open("/db", &d.o, &d.e), KV_OK);
    expect_model(&d, -1, "", "after failed opens");
    db_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_fault");
    TCase *tc = tcase_create("engine_fault");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sync_always_keeps_every_acknowledged_write);
    tcase_add_test(tc, sync_none_recovers_a_prefix_of_the_writes);
    tcase_add_test(tc, periodic_sync_makes_writes_durable);
    tcase_add_loop_test(tc, failing_io_is_reported_and_reopen_is_consistent, 0, 2);
    tcase_add_test(tc, failing_open_is_an_error_and_retrying_works);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
