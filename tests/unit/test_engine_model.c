/* test_engine_model.c - seeded random operations against the engine and
 * against a plain in-memory model (an array indexed by key number),
 * with snapshots, iterators, flushes, compactions and reopens in between.
 * Tiny memtables and tables make every run cross many files and levels.
 * A failure message names the seed and the step, so a run can be replayed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "engine_testutil.h"
#include "storage/engine.h"
#include "storage/env.h"

#define MODEL_KEYS 400
#define MODEL_VALUE_BYTES_MAX 64
#define MODEL_SNAPSHOTS_MAX 3
#define MODEL_STEPS 6000
#define MODEL_CHECK_EVERY 100

struct model {
    char *v[MODEL_KEYS];           /* NULL: absent */
};

struct model_snapshot {
    struct engine_snapshot *snap;  /* NULL: slot free */
    struct model m;
};

struct run {
    uint64_t seed;
    int step;
    struct kv_rand r;
    struct env *env;
    struct engine *e;
    struct engine_options o;
    struct model m;
    struct model_snapshot snaps[MODEL_SNAPSHOTS_MAX];
    uint64_t compactions;          /* over every open of the run */
    uint64_t flushes;
};

static void model_copy(struct model *dst, const struct model *src)
{
    for (int i = 0; i < MODEL_KEYS; i++)
        dst->v[i] = src->v[i] ? strdup(src->v[i]) : NULL;
}

static void model_clear(struct model *m)
{
    for (int i = 0; i < MODEL_KEYS; i++) {
        free(m->v[i]);
        m->v[i] = NULL;
    }
}

static void model_set(struct model *m, unsigned k, const char *v)
{
    free(m->v[k]);
    m->v[k] = v ? strdup(v) : NULL;
}

static void key_of(char *buf, unsigned k) { snprintf(buf, 16, "k%04u", k); }

static void value_of(struct run *r, char *buf)
{
    /* Values of varying length so blocks and tables split unevenly. */
    int n = snprintf(buf, MODEL_VALUE_BYTES_MAX, "v%llu-%d-", (unsigned long long)r->seed, r->step);
    int pad = (int)kv_rand_below(&r->r, MODEL_VALUE_BYTES_MAX - (uint64_t)n - 1);
    memset(buf + n, 'a' + r->step % 26, (size_t)pad);
    buf[n + pad] = 0;
}

/* Compares every key of the engine at snap with model m, by get and by a
 * forward and a backward scan. */
static void check_all(struct run *r, const struct engine_snapshot *snap, const struct model *m)
{
    char k[16];
    struct kv_buf b = { 0 };
    for (unsigned i = 0; i < MODEL_KEYS; i++) {
        key_of(k, i);
        int rc = engine_get(r->e, snap, tu_s(k), &b);
        if (m->v[i])
            ck_assert_msg(rc == KV_OK && kv_slice_eq(kv_slice_make(b.data, b.len), tu_s(m->v[i])),
                          "seed %llu step %d: get %s = %s, want %s", (unsigned long long)r->seed, r->step, k,
                          kv_status_str(rc), m->v[i]);
        else
            ck_assert_msg(rc == KV_ENOTFOUND, "seed %llu step %d: get %s = %s, want absent",
                          (unsigned long long)r->seed, r->step, k, kv_status_str(rc));
    }
    kv_buf_free(&b);
    struct engine_iter *it;
    ck_assert_int_eq(engine_iter_new(r->e, snap, &it), KV_OK);
    unsigned i = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), i++) {
        while (i < MODEL_KEYS && !m->v[i])
            i++;
        key_of(k, i);
        ck_assert_msg(i < MODEL_KEYS && kv_slice_eq(engine_iter_key(it), tu_s(k)) &&
                          kv_slice_eq(engine_iter_value(it), tu_s(m->v[i])),
                      "seed %llu step %d: forward scan differs at %s", (unsigned long long)r->seed, r->step, k);
    }
    while (i < MODEL_KEYS && !m->v[i])
        i++;
    ck_assert_msg(i == MODEL_KEYS, "seed %llu step %d: forward scan ended early", (unsigned long long)r->seed, r->step);
    int j = MODEL_KEYS - 1;
    for (engine_iter_seek_last(it); engine_iter_valid(it); engine_iter_prev(it), j--) {
        while (j >= 0 && !m->v[j])
            j--;
        key_of(k, (unsigned)j);
        ck_assert_msg(j >= 0 && kv_slice_eq(engine_iter_key(it), tu_s(k)) &&
                          kv_slice_eq(engine_iter_value(it), tu_s(m->v[j])),
                      "seed %llu step %d: backward scan differs at %s", (unsigned long long)r->seed, r->step, k);
    }
    while (j >= 0 && !m->v[j])
        j--;
    ck_assert_msg(j < 0, "seed %llu step %d: backward scan ended early", (unsigned long long)r->seed, r->step);
    ck_assert_int_eq(engine_iter_status(it), KV_OK);
    engine_iter_free(it);
}

/* A seek to a random key, then a few random moves, against the model. */
static void check_seek(struct run *r)
{
    char k[16];
    struct engine_iter *it;
    ck_assert_int_eq(engine_iter_new(r->e, NULL, &it), KV_OK);
    int pos = (int)kv_rand_below(&r->r, MODEL_KEYS);
    key_of(k, (unsigned)pos);
    engine_iter_seek(it, tu_s(k));
    while (pos < MODEL_KEYS && !r->m.v[pos])
        pos++;
    for (int move = 0; move < 8; move++) {
        bool want = pos >= 0 && pos < MODEL_KEYS;
        ck_assert_msg(engine_iter_valid(it) == want, "seed %llu step %d: seek validity", (unsigned long long)r->seed,
                      r->step);
        if (!want)
            break;
        key_of(k, (unsigned)pos);
        ck_assert_msg(kv_slice_eq(engine_iter_key(it), tu_s(k)), "seed %llu step %d: seek/move key",
                      (unsigned long long)r->seed, r->step);
        if (kv_rand_below(&r->r, 2)) {
            engine_iter_next(it);
            do
                pos++;
            while (pos < MODEL_KEYS && !r->m.v[pos]);
        } else {
            engine_iter_prev(it);
            do
                pos--;
            while (pos >= 0 && !r->m.v[pos]);
        }
    }
    engine_iter_free(it);
}

static void release_snapshots(struct run *r)
{
    for (int i = 0; i < MODEL_SNAPSHOTS_MAX; i++)
        if (r->snaps[i].snap) {
            engine_snapshot_release(r->e, r->snaps[i].snap);
            r->snaps[i].snap = NULL;
            model_clear(&r->snaps[i].m);
        }
}

/* One write: a put, a delete, a range delete, or a batch of them. */
static void random_write(struct run *r, struct engine_batch *b, unsigned kind)
{
    char k[16], k2[16], v[MODEL_VALUE_BYTES_MAX];
    unsigned a = (unsigned)kv_rand_below(&r->r, MODEL_KEYS);
    key_of(k, a);
    if (kind < 50) {
        value_of(r, v);
        ck_assert_int_eq(b ? engine_batch_put(b, tu_s(k), tu_s(v)) : engine_put(r->e, tu_s(k), tu_s(v)), KV_OK);
        model_set(&r->m, a, v);
    } else if (kind < 80) {
        ck_assert_int_eq(b ? engine_batch_delete(b, tu_s(k)) : engine_delete(r->e, tu_s(k)), KV_OK);
        model_set(&r->m, a, NULL);
    } else {
        unsigned end = a + 1 + (unsigned)kv_rand_below(&r->r, 40);
        if (end > MODEL_KEYS)
            end = MODEL_KEYS;
        key_of(k2, end); /* "k0400" sorts after every key */
        ck_assert_int_eq(b ? engine_batch_delete_range(b, tu_s(k), tu_s(k2))
                           : engine_delete_range(r->e, tu_s(k), tu_s(k2)),
                         KV_OK);
        for (unsigned i = a; i < end; i++)
            model_set(&r->m, i, NULL);
    }
}

static void reopen(struct run *r)
{
    struct engine_stats st;
    engine_get_stats(r->e, &st);
    ck_assert_int_eq(st.background_error, KV_OK);
    r->compactions += st.compactions;
    r->flushes += st.flushes;
    release_snapshots(r);
    ck_assert_int_eq(engine_close(r->e), KV_OK);
    ck_assert_int_eq(engine_open("/db", &r->o, &r->e), KV_OK);
}

static void random_step(struct run *r, struct engine_batch *b)
{
    unsigned op = (unsigned)kv_rand_below(&r->r, 1000);
    if (op < 800) {
        random_write(r, NULL, (unsigned)kv_rand_below(&r->r, 100) < 95 ? (unsigned)kv_rand_below(&r->r, 80)
                                                                         : 80);
    } else if (op < 900) {
        engine_batch_clear(b);
        int n = 1 + (int)kv_rand_below(&r->r, 10);
        for (int i = 0; i < n; i++)
            random_write(r, b, (unsigned)kv_rand_below(&r->r, 85));
        ck_assert_int_eq(engine_write(r->e, b), KV_OK);
    } else if (op < 930) {
        int slot = (int)kv_rand_below(&r->r, MODEL_SNAPSHOTS_MAX);
        struct model_snapshot *s = &r->snaps[slot];
        if (s->snap) {
            check_all(r, s->snap, &s->m);
            engine_snapshot_release(r->e, s->snap);
            s->snap = NULL;
            model_clear(&s->m);
        } else {
            ck_assert_int_eq(engine_snapshot_new(r->e, &s->snap), KV_OK);
            model_copy(&s->m, &r->m);
        }
    } else if (op < 960) {
        check_seek(r);
    } else if (op < 980) {
        ck_assert_int_eq(engine_flush(r->e), KV_OK);
    } else if (op < 993) {
        char lo[16], hi[16];
        unsigned a = (unsigned)kv_rand_below(&r->r, MODEL_KEYS), z = a + (unsigned)kv_rand_below(&r->r, 200);
        key_of(lo, a);
        key_of(hi, z);
        struct kv_slice b0 = tu_s(lo), b1 = tu_s(hi);
        bool all = kv_rand_below(&r->r, 4) == 0;
        ck_assert_int_eq(engine_compact_range(r->e, all ? NULL : &b0, all ? NULL : &b1), KV_OK);
    } else {
        reopen(r);
    }
}

static void run_seed(uint64_t seed)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.seed = seed;
    kv_rand_seed(&r.r, seed);
    ck_assert_int_eq(env_mem_new(&r.env), KV_OK);
    tu_small_options(&r.o, r.env);
    ck_assert_int_eq(engine_open("/db", &r.o, &r.e), KV_OK);
    struct engine_batch *b;
    ck_assert_int_eq(engine_batch_new(&b), KV_OK);
    for (r.step = 0; r.step < MODEL_STEPS; r.step++) {
        random_step(&r, b);
        if (r.step % MODEL_CHECK_EVERY == MODEL_CHECK_EVERY - 1) {
            check_all(&r, NULL, &r.m);
            for (int i = 0; i < MODEL_SNAPSHOTS_MAX; i++)
                if (r.snaps[i].snap)
                    check_all(&r, r.snaps[i].snap, &r.snaps[i].m);
        }
    }
    reopen(&r);
    check_all(&r, NULL, &r.m);
    /* The run really crossed tables and levels. */
    ck_assert_uint_gt(r.flushes, 10);
    ck_assert_uint_gt(r.compactions, 10);
    engine_batch_free(b);
    release_snapshots(&r);
    ck_assert_int_eq(engine_close(r.e), KV_OK);
    model_clear(&r.m);
    env_destroy(r.env);
}

START_TEST(random_operations_match_the_model)
{
    run_seed((uint64_t)_i + 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_model");
    TCase *tc = tcase_create("engine_model");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, random_operations_match_the_model, 0, 10);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
