/*
 * eb_run.c - engine_bench's workloads and the per-engine run loop (see
 * eb_run.h for what each workload does).
 *
 * The timed loops do nothing but the engine call, key formatting (a
 * hand-rolled %016llu) and one xoshiro256** draw; every engine pays the
 * same for those. Found values are checked for their length so that an
 * engine returning wrong data fails the run instead of looking fast.
 */
#include "bench/eb_run.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#define EB_VALUE_PIECE_BYTES 100u            /* unit of the value pool */
#define EB_VALUE_RANDOM_BYTES 50u            /* random part of a piece: 50/100 = half compressible */
#define EB_VALUE_POOL_BYTES (1024u * 1024u)  /* 1 MiB, as db_bench; grown to 2 values if needed */
#define EB_NFTW_FDS 16                       /* directory fds nftw may hold open */

struct eb_value_cursor {
    const struct eb_values *values;
    size_t pos;
};

/* One engine's run: what the workloads share. */
struct eb_run {
    const struct eb_run_spec *spec;
    const struct eb_engine_ops *ops;
    struct eb_db *db;        /* NULL until the first workload opens it */
    const char *dir;
    struct kv_rand rand;     /* reseeded per workload */
    struct eb_value_cursor cursor;
    struct kv_buf scratch;   /* the main thread's get buffer */
};

/* ---- keys and values ---------------------------------------------------- */

/* Same bytes as snprintf("%016llu"), without printf's cost in the timed loop. */
static struct kv_slice eb_key(uint64_t n, char out[EB_KEY_BYTES])
{
    for (int i = EB_KEY_BYTES - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
    return kv_slice_make(out, EB_KEY_BYTES);
}

/*
 * Half-compressible values make the peers, which compress with Snappy by
 * default, do the work (and get the size reduction) they would get in
 * their own db_bench. The pool is twice a value at least, so consecutive
 * values differ.
 */
int eb_run_values_build(struct eb_values *v, uint64_t seed, uint32_t value_bytes)
{
    size_t pool_bytes = EB_VALUE_POOL_BYTES;
    if (pool_bytes < 2u * value_bytes)
        pool_bytes = 2u * value_bytes;
    char *pool = malloc(pool_bytes);
    if (pool == NULL)
        return KV_ENOMEM;
    struct kv_rand r;
    kv_rand_seed(&r, seed ^ 0x76616c756573ull); /* "values": a stream apart from the keys' */
    for (size_t at = 0; at < pool_bytes; at += EB_VALUE_PIECE_BYTES) {
        char piece[EB_VALUE_RANDOM_BYTES];
        for (size_t i = 0; i < EB_VALUE_RANDOM_BYTES; i++)
            piece[i] = (char)(' ' + kv_rand_below(&r, 95));
        for (size_t i = 0; i < EB_VALUE_PIECE_BYTES && at + i < pool_bytes; i++)
            pool[at + i] = piece[i % EB_VALUE_RANDOM_BYTES];
    }
    v->pool = pool;
    v->pool_bytes = pool_bytes;
    return KV_OK;
}

void eb_run_values_free(struct eb_values *v)
{
    free(v->pool);
    v->pool = NULL;
    v->pool_bytes = 0;
}

static struct kv_slice eb_value_next(struct eb_value_cursor *c, uint32_t value_bytes)
{
    if (c->pos + value_bytes > c->values->pool_bytes)
        c->pos = 0;
    struct kv_slice s = kv_slice_make(c->values->pool + c->pos, value_bytes);
    c->pos += value_bytes;
    return s;
}

/* ---- directories -------------------------------------------------------- */

static int eb_remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path) == 0 ? 0 : -1;
}

/* rm -rf dir; a missing dir is fine. */
int eb_run_remove_dir(const char *dir)
{
    if (access(dir, F_OK) != 0 && errno == ENOENT)
        return KV_OK;
    if (nftw(dir, eb_remove_entry, EB_NFTW_FDS, FTW_DEPTH | FTW_PHYS) != 0) {
        log_error("engine_bench", "cannot remove directory dir=%s err=%s", dir, strerror(errno));
        return KV_EIO;
    }
    return KV_OK;
}

int eb_run_make_dir(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_error("engine_bench", "cannot create directory dir=%s err=%s", dir, strerror(errno));
        return kv_status_from_errno(errno);
    }
    return KV_OK;
}

/* ---- workloads ------------------------------------------------------------ */

static void eb_finish(struct eb_result *res, uint64_t start_ns, uint64_t ops, int status)
{
    res->elapsed_ns = kv_mono_ns() - start_ns;
    res->ops = ops;
    res->status = status;
}

static int eb_fill(struct eb_run *run, struct eb_result *res, bool random_keys)
{
    const uint64_t num = run->spec->num;
    const uint32_t value_bytes = run->spec->value_bytes;
    char key_bytes[EB_KEY_BYTES];
    int rc = KV_OK;
    uint64_t i = 0;
    uint64_t start_ns = kv_mono_ns();
    for (; i < num; i++) {
        uint64_t k = random_keys ? kv_rand_below(&run->rand, num) : i;
        rc = run->ops->put(run->db, eb_key(k, key_bytes), eb_value_next(&run->cursor, value_bytes));
        if (rc != KV_OK)
            break;
    }
    eb_finish(res, start_ns, i, rc);
    res->bytes = i * (EB_KEY_BYTES + value_bytes);
    return rc;
}

static int eb_fillseq(struct eb_run *run, struct eb_result *res) { return eb_fill(run, res, false); }
static int eb_fillrandom(struct eb_run *run, struct eb_result *res) { return eb_fill(run, res, true); }
static int eb_overwrite(struct eb_run *run, struct eb_result *res) { return eb_fill(run, res, true); }

/*
 * num random gets with r; counts hits into res. A hit whose value is not
 * value_bytes long means the engine returned the wrong data: KV_ECORRUPT.
 */
static int eb_read_random(struct eb_run *run, struct kv_rand *r, struct kv_buf *scratch, struct eb_result *res)
{
    const uint64_t num = run->spec->num;
    char key_bytes[EB_KEY_BYTES];
    uint64_t found = 0, i = 0;
    int rc = KV_OK;
    uint64_t start_ns = kv_mono_ns();
    for (; i < num; i++) {
        size_t value_len = 0;
        rc = run->ops->get(run->db, eb_key(kv_rand_below(r, num), key_bytes), scratch, &value_len);
        if (rc == KV_ENOTFOUND) {
            rc = KV_OK;
            continue;
        }
        if (rc == KV_OK && value_len != run->spec->value_bytes) {
            log_error("engine_bench", "wrong value length engine=%s len=%zu", run->ops->name, value_len);
            rc = KV_ECORRUPT;
        }
        if (rc != KV_OK)
            break;
        found++;
    }
    eb_finish(res, start_ns, i, rc);
    res->found = found;
    res->bytes = found * (EB_KEY_BYTES + run->spec->value_bytes);
    return rc;
}

static int eb_readrandom(struct eb_run *run, struct eb_result *res)
{
    return eb_read_random(run, &run->rand, &run->scratch, res);
}

static int eb_readseq(struct eb_run *run, struct eb_result *res)
{
    uint64_t entries = 0, bytes = 0;
    uint64_t start_ns = kv_mono_ns();
    int rc = run->ops->scan(run->db, run->spec->num, &entries, &bytes);
    eb_finish(res, start_ns, entries, rc);
    if (rc == KV_OK && bytes != entries * (EB_KEY_BYTES + run->spec->value_bytes)) {
        log_error("engine_bench", "scan saw wrong entry sizes engine=%s entries=%" PRIu64 " bytes=%" PRIu64,
                  run->ops->name, entries, bytes);
        rc = res->status = KV_ECORRUPT;
    }
    res->found = entries;
    res->bytes = bytes;
    return rc;
}

struct eb_writer {
    struct eb_run *run;
    struct kv_rand rand;
    struct eb_value_cursor cursor;
    atomic_bool stop;
    uint64_t writes;
    int status;
};

static void *eb_writer_main(void *arg)
{
    struct eb_writer *w = arg;
    const uint64_t num = w->run->spec->num;
    char key_bytes[EB_KEY_BYTES];
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        struct kv_slice key = eb_key(kv_rand_below(&w->rand, num), key_bytes);
        w->status = w->run->ops->put(w->run->db, key, eb_value_next(&w->cursor, w->run->spec->value_bytes));
        if (w->status != KV_OK)
            break;
        w->writes++;
    }
    return NULL;
}

static int eb_readwhilewriting(struct eb_run *run, struct eb_result *res)
{
    struct eb_writer w = { .run = run, .cursor = run->cursor, .status = KV_OK };
    kv_rand_seed(&w.rand, kv_rand_next(&run->rand));
    atomic_init(&w.stop, false);
    pthread_t writer;
    if (pthread_create(&writer, NULL, eb_writer_main, &w) != 0) {
        log_error("engine_bench", "cannot start writer thread");
        res->status = KV_ENOMEM;
        return KV_ENOMEM;
    }
    int rc = eb_read_random(run, &run->rand, &run->scratch, res);
    atomic_store(&w.stop, true);
    pthread_join(writer, NULL);
    res->writes_during = w.writes;
    if (rc == KV_OK && w.status != KV_OK)
        rc = res->status = w.status;
    return rc;
}

static const struct eb_workload eb_workloads[] = {
    /* name, fresh_db, point_reads, scan, run */
    { "fillseq", true, false, false, eb_fillseq },
    { "fillrandom", true, false, false, eb_fillrandom },
    { "overwrite", false, false, false, eb_overwrite },
    { "readrandom", false, true, false, eb_readrandom },
    { "readseq", false, false, true, eb_readseq },
    { "readwhilewriting", false, true, false, eb_readwhilewriting },
};
#define EB_WORKLOADS (sizeof eb_workloads / sizeof eb_workloads[0])

const struct eb_workload *eb_run_workloads(size_t *count_out)
{
    *count_out = EB_WORKLOADS;
    return eb_workloads;
}

const struct eb_workload *eb_run_find_workload(const char *name)
{
    for (size_t i = 0; i < EB_WORKLOADS; i++)
        if (strcmp(eb_workloads[i].name, name) == 0)
            return &eb_workloads[i];
    return NULL;
}

/* ---- one engine, every workload ------------------------------------------- */

/* CPU used so far by every thread of this process. Less sensitive than
 * wall time to other programs sharing the cores. */
static uint64_t eb_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static int eb_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KV_EIO;
        p += w;
        n -= (size_t)w;
    }
    return KV_OK;
}

static int eb_reset_db(struct eb_run *run)
{
    int rc = KV_OK;
    if (run->db) {
        rc = run->ops->close(run->db);
        run->db = NULL;
        if (rc != KV_OK)
            return rc;
    }
    rc = eb_run_remove_dir(run->dir);
    if (rc == KV_OK)
        rc = eb_run_make_dir(run->dir);
    if (rc == KV_OK)
        rc = run->ops->open(run->dir, &run->db);
    return rc;
}

static int eb_run_slot(struct eb_run *run, size_t slot, int fd)
{
    const struct eb_workload *w = run->spec->slots[slot];
    struct eb_result res = { .slot = (uint32_t)slot };
    int rc = KV_OK;
    if (w->fresh_db)
        rc = eb_reset_db(run);
    else if (run->db == NULL) {  /* e.g. --benchmarks readrandom on an existing --db */
        rc = eb_run_make_dir(run->dir);
        if (rc == KV_OK)
            rc = run->ops->open(run->dir, &run->db);
    }
    if (rc != KV_OK) {
        log_error("engine_bench", "cannot open the db engine=%s dir=%s status=%s",
                  run->ops->name, run->dir, kv_status_str(rc));
        return rc;
    }
    /* One key stream per (seed, slot, workload): the same keys for every
     * engine, and a readrandom run alone on a kept --db does not replay
     * the keys of the fillrandom that built it. */
    kv_rand_seed(&run->rand, (run->spec->seed * 1000003u + slot) * EB_WORKLOADS + (size_t)(w - eb_workloads));
    run->cursor.pos = 0;
    uint64_t cpu_start_ns = eb_cpu_ns();
    rc = w->run(run, &res);
    res.cpu_ns = eb_cpu_ns() - cpu_start_ns;
    if (rc != KV_OK)
        log_error("engine_bench", "workload stopped engine=%s workload=%s after_ops=%" PRIu64 " status=%s",
                  run->ops->name, w->name, res.ops, kv_status_str(rc));
    int wrc = eb_write_all(fd, &res, sizeof res);
    return rc != KV_OK ? rc : wrc;
}

int eb_run_engine(const struct eb_engine_ops *ops, const char *dir, const struct eb_run_spec *spec,
                  const struct eb_values *values, int result_fd)
{
    struct eb_run run = { .spec = spec, .ops = ops, .dir = dir };
    run.cursor.values = values;
    int rc = KV_OK;
    for (size_t slot = 0; slot < spec->slot_count && rc == KV_OK; slot++)
        rc = eb_run_slot(&run, slot, result_fd);
    if (run.db) {
        int close_rc = ops->close(run.db);
        if (rc == KV_OK)
            rc = close_rc;
    }
    kv_buf_free(&run.scratch);
    return rc;
}
