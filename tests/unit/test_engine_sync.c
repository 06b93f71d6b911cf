/* test_engine_sync.c - the periodic WAL sync runs without blocking
 * writers, and a WAL rotation waits for it instead of closing the log
 * under it.
 *
 * A "gate" env wraps the in-memory env: once armed, the next sync of a
 * log file blocks until the test releases it, so the test can act while
 * the periodic-sync thread is inside fdatasync:
 *   - writes complete while that sync is blocked;
 *   - a flush (memtable switch, new WAL) started during the sync does not
 *     close the old log before the sync returns, and completes after;
 *   - every write is there after close and reopen;
 *   - a failed periodic sync stops later writes and WAL switches with
 *     its error. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_testutil.h"
#include "storage/engine.h"
#include "storage/env.h"

#define SYNC_TEST_KEYS 100
#define SYNC_TEST_WAIT_S 30 /* liveness bound: a hang fails the test instead */

struct gate_env {
    struct env hdr;
    struct env *inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool armed;                /* the next log sync blocks */
    int fail_rc;               /* KV_OK, or what the blocked sync returns */
    bool released;
    struct env_file *in_sync;  /* the log being synced while blocked */
    bool closed_while_syncing;
    unsigned log_opens;
};

struct gate_file {
    struct env_file hdr;
    struct env_file *inner;
    bool is_log;
};

static struct gate_env *gate_of(struct env *e) { return (struct gate_env *)e; }
static struct env_file *inner_of(struct env_file *f) { return ((struct gate_file *)f)->inner; }

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int gate_open(struct env *env, const char *path, enum env_open_mode m, struct env_file **out)
{
    struct gate_env *g = gate_of(env);
    struct gate_file *f = calloc(1, sizeof *f);
    if (!f)
        return KV_ENOMEM;
    int rc = env_open(g->inner, path, m, &f->inner);
    if (rc != KV_OK) {
        free(f);
        return rc;
    }
    f->hdr.env = env;
    f->is_log = ends_with(path, ".log");
    pthread_mutex_lock(&g->mu);
    if (f->is_log && m != ENV_OPEN_READ)
        g->log_opens++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    *out = &f->hdr;
    return KV_OK;
}

static int gate_sync(struct env_file *f)
{
    struct gate_env *g = gate_of(f->env);
    int rc = KV_OK;
    pthread_mutex_lock(&g->mu);
    if (g->armed && ((struct gate_file *)f)->is_log) {
        g->armed = false;
        g->in_sync = f;
        pthread_cond_broadcast(&g->cv);
        while (!g->released)
            pthread_cond_wait(&g->cv, &g->mu);
        g->in_sync = NULL;
        rc = g->fail_rc;
    }
    pthread_mutex_unlock(&g->mu);
    return rc != KV_OK ? rc : env_sync(inner_of(f));
}

static int gate_close(struct env_file *f)
{
    struct gate_env *g = gate_of(f->env);
    pthread_mutex_lock(&g->mu);
    if (g->in_sync == f)
        g->closed_while_syncing = true;
    pthread_mutex_unlock(&g->mu);
    int rc = env_close(inner_of(f));
    free(f);
    return rc;
}

static int gate_append(struct env_file *f, const void *d, size_t n) { return env_append(inner_of(f), d, n); }
static int gate_pread(struct env_file *f, uint64_t off, void *b, size_t n, size_t *r) { return env_pread(inner_of(f), off, b, n, r); }
static int gate_size(struct env_file *f, uint64_t *out) { return env_size(inner_of(f), out); }
static int gate_remove(struct env *e, const char *p) { return env_remove(gate_of(e)->inner, p); }
static int gate_rename(struct env *e, const char *a, const char *b) { return env_rename(gate_of(e)->inner, a, b); }
static int gate_mkdir(struct env *e, const char *p) { return env_mkdir(gate_of(e)->inner, p); }
static int gate_sync_dir(struct env *e, const char *p) { return env_sync_dir(gate_of(e)->inner, p); }
static int gate_list(struct env *e, const char *d, char ***names, size_t *n) { return env_list(gate_of(e)->inner, d, names, n); }
static int gate_exists(struct env *e, const char *p, bool *out) { return env_exists(gate_of(e)->inner, p, out); }

static int gate_lock(struct env *e, const char *p, struct env_file **out)
{
    struct gate_file *f = calloc(1, sizeof *f);
    if (!f)
        return KV_ENOMEM;
    int rc = env_lock(gate_of(e)->inner, p, &f->inner);
    if (rc != KV_OK) {
        free(f);
        return rc;
    }
    f->hdr.env = e;
    *out = &f->hdr;
    return KV_OK;
}

static int gate_unlock(struct env_file *l)
{
    int rc = env_unlock(inner_of(l));
    free(l);
    return rc;
}

static void gate_destroy(struct env *e) { (void)e; }

static const struct env_ops gate_ops = {
    .open = gate_open, .append = gate_append, .pread = gate_pread, .sync = gate_sync,
    .size = gate_size, .close = gate_close, .map = NULL, .remove = gate_remove,
    .rename = gate_rename, .mkdir = gate_mkdir, .sync_dir = gate_sync_dir, .list = gate_list,
    .exists = gate_exists, .lock = gate_lock, .unlock = gate_unlock, .destroy = gate_destroy,
};

static void gate_init(struct gate_env *g)
{
    memset(g, 0, sizeof *g);
    g->hdr.ops = &gate_ops;
    ck_assert_int_eq(env_mem_new(&g->inner), KV_OK);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_free(struct gate_env *g)
{
    env_destroy(g->inner);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static struct timespec deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += SYNC_TEST_WAIT_S;
    return ts;
}

/* Waits under g->mu until *flag is true; false after SYNC_TEST_WAIT_S. */
static bool gate_wait(struct gate_env *g, const bool *flag)
{
    struct timespec ts = deadline();
    int err = 0;
    pthread_mutex_lock(&g->mu);
    while (!*flag && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    bool ok = *flag;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

static void gate_release(struct gate_env *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until the periodic-sync thread is blocked in a log sync. */
static bool gate_wait_blocked(struct gate_env *g)
{
    struct timespec ts = deadline();
    int err = 0;
    pthread_mutex_lock(&g->mu);
    while (!g->in_sync && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    bool ok = g->in_sync != NULL;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* A job on its own thread whose end the test awaits with a bound. */
struct job {
    struct gate_env *g;
    struct engine *e;
    int first, count; /* puts of keys first..first+count-1; count 0: engine_flush */
    int rc;
    bool done;        /* under g->mu */
    pthread_t t;
};

static void key_of(char *buf, size_t n, int k) { snprintf(buf, n, "key%05d", k); }

static void *job_main(void *arg)
{
    struct job *j = arg;
    int rc = KV_OK;
    char key[16];
    if (j->count == 0)
        rc = engine_flush(j->e);
    for (int k = j->first; k < j->first + j->count && rc == KV_OK; k++) {
        key_of(key, sizeof key, k);
        rc = engine_put(j->e, kv_slice_make(key, strlen(key)), kv_slice_make(key, strlen(key)));
    }
    pthread_mutex_lock(&j->g->mu);
    j->rc = rc;
    j->done = true;
    pthread_cond_broadcast(&j->g->cv);
    pthread_mutex_unlock(&j->g->mu);
    return NULL;
}

static void job_start(struct job *j, struct gate_env *g, struct engine *e, int first, int count)
{
    *j = (struct job){ .g = g, .e = e, .first = first, .count = count };
    ck_assert_int_eq(pthread_create(&j->t, NULL, job_main, j), 0);
}

static void open_periodic(struct gate_env *g, struct engine **e)
{
    struct engine_options o;
    tu_small_options(&o, &g->hdr);
    o.memtable_bytes = 4u << 20; /* only the explicit flush switches the WAL */
    o.sync = ENGINE_SYNC_PERIODIC;
    o.sync_interval_ms = 5;
    ck_assert_int_eq(engine_open("/db", &o, e), KV_OK);
}

static void check_keys(struct engine *e, int count)
{
    char key[16];
    for (int k = 0; k < count; k++) {
        key_of(key, sizeof key, k);
        tu_expect(e, NULL, key, key);
    }
}

START_TEST(rotation_during_periodic_sync)
{
    struct gate_env g;
    struct engine *e;
    struct job writer, flusher;
    gate_init(&g);
    open_periodic(&g, &e);
    tu_put(e, "key00000", "key00000");
    pthread_mutex_lock(&g.mu);
    g.armed = true;
    unsigned opens = g.log_opens;
    pthread_mutex_unlock(&g.mu);
    ck_assert_msg(gate_wait_blocked(&g), "the periodic sync never ran");

    /* Writers go on while the sync is blocked. */
    job_start(&writer, &g, e, 1, SYNC_TEST_KEYS / 2 - 1);
    bool wrote = gate_wait(&g, &writer.done);
    if (!wrote)
        gate_release(&g); /* let the stuck writer finish before failing */
    ck_assert_msg(wrote, "writes were blocked by the periodic sync");
    ck_assert_int_eq(writer.rc, KV_OK);
    pthread_join(writer.t, NULL);

    /* A flush opens a new log, then must wait for the sync of the old one. */
    job_start(&flusher, &g, e, 0, 0);
    struct timespec ts = deadline();
    int err = 0;
    pthread_mutex_lock(&g.mu);
    while (g.log_opens == opens && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&g.cv, &g.mu, &ts);
    bool opened = g.log_opens > opens;
    pthread_mutex_unlock(&g.mu);
    ck_assert_msg(opened, "the flush never opened a new log");
    struct timespec pause = { 0, 50 * 1000 * 1000 }; /* let it reach the wait */
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&g.mu);
    bool closed = g.closed_while_syncing, flushed = flusher.done;
    pthread_mutex_unlock(&g.mu);
    ck_assert_msg(!closed, "the old log was closed while it was being synced");
    ck_assert_msg(!flushed, "the flush replaced the log before its sync ended");

    gate_release(&g);
    ck_assert_msg(gate_wait(&g, &flusher.done), "the flush never finished");
    pthread_join(flusher.t, NULL);
    ck_assert_int_eq(flusher.rc, KV_OK);
    ck_assert(!g.closed_while_syncing);

    job_start(&writer, &g, e, SYNC_TEST_KEYS / 2, SYNC_TEST_KEYS / 2);
    ck_assert(gate_wait(&g, &writer.done));
    pthread_join(writer.t, NULL);
    ck_assert_int_eq(writer.rc, KV_OK);
    check_keys(e, SYNC_TEST_KEYS);
    ck_assert_int_eq(engine_close(e), KV_OK);

    open_periodic(&g, &e);
    check_keys(e, SYNC_TEST_KEYS);
    ck_assert_int_eq(engine_close(e), KV_OK);
    gate_free(&g);
}
END_TEST

START_TEST(failed_periodic_sync_stops_writes)
{
    struct gate_env g;
    struct engine *e;
    gate_init(&g);
    open_periodic(&g, &e);
    tu_put(e, "key00000", "key00000");
    pthread_mutex_lock(&g.mu);
    g.armed = true;
    g.fail_rc = KV_EIO;
    pthread_mutex_unlock(&g.mu);
    ck_assert(gate_wait_blocked(&g));
    gate_release(&g);
    /* The error becomes sticky once the sync thread reports it. */
    int rc = KV_OK;
    for (int i = 0; i < SYNC_TEST_WAIT_S * 100 && rc == KV_OK; i++) {
        rc = engine_put(e, kv_slice_make("k", 1), kv_slice_make("v", 1));
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        if (rc == KV_OK)
            nanosleep(&pause, NULL);
    }
    ck_assert_int_eq(rc, KV_EIO);
    ck_assert_int_eq(engine_flush(e), KV_EIO); /* no new log after a log that failed to sync */
    ck_assert_int_eq(engine_close(e), KV_EIO);
    gate_free(&g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_sync");
    TCase *tc = tcase_create("periodic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rotation_during_periodic_sync);
    tcase_add_test(tc, failed_periodic_sync_stops_writes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
