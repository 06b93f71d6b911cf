/*
 * fuzz_recover.c - libFuzzer over the storage engine's recovery: CURRENT
 * (filename_parse_current), the MANIFEST as a whole (version_set_recover:
 * edits applied in order, counters, the file set), the logs' write
 * batches (batch_validate, batch_reader, replay) and the directory scan
 * (filename_parse). fuzz_wal and fuzz_manifest take the log framing and
 * a single edit; here the framing is made valid by the target, so the
 * mutations reach what lies behind the CRCs.
 *
 * Input: chunks of  kind:u8 ++ len:be16 ++ bytes. kind % 6:
 *   0  CURRENT's contents (the last one wins; none: "MANIFEST-000001\n")
 *   1  a record of MANIFEST-000001 (a version edit)
 *   2  a record of log 000002.log (a write batch)
 *   3  a record of log 000003.log
 *   4  a raw file 0000NN.sst, NN = 10 + its chunk index (a table)
 *   5  an empty file named by the bytes (at most NAME_BYTES_MAX; '/' and
 *      NUL become '_'), for the directory scan (filename_parse)
 * A short last chunk takes what is left. Files are written to an
 * in-memory env, then engine_open. Invariants (abort on violation): open
 * fails only with KV_ECORRUPT, KV_ENOTFOUND or KV_EINVAL; an engine that
 * opens iterates cleanly (or reports KV_ECORRUPT: a damaged table) and,
 * when the walk was clean, reopens after a close with the same keys and
 * values.
 * Seeds: tests/fuzz/corpus/recover/ (make_recover_corpus.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/log.h"
#include "storage/engine.h"
#include "storage/env.h"
#include "storage/filename.h"
#include "storage/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define DIR "/db"
#define MANIFEST_NUMBER 1
#define STEPS_MAX 100000
#define NAME_BYTES_MAX 64

struct files {
    struct wal_writer *manifest, *log2, *log3;
    bool current;
    int tables;
};

static void add_record(struct env *env, struct wal_writer **w, enum filename_kind kind, uint64_t number,
                       const char *p, size_t n)
{
    if (!*w) {
        char path[FILENAME_PATH_BYTES_MAX];
        struct env_file *f;
        FUZZ_CHECK(filename_path(path, DIR, kind, number) == KV_OK);
        FUZZ_CHECK(env_open(env, path, ENV_OPEN_TRUNCATE, &f) == KV_OK);
        FUZZ_CHECK(wal_writer_new(f, 0, w) == KV_OK);
    }
    FUZZ_CHECK(wal_writer_add(*w, kv_slice_make(p, n)) == KV_OK);
}

static void write_file(struct env *env, const char *path, const char *p, size_t n)
{
    struct env_file *f;
    FUZZ_CHECK(env_open(env, path, ENV_OPEN_TRUNCATE, &f) == KV_OK);
    FUZZ_CHECK(env_append(f, p, n) == KV_OK);
    FUZZ_CHECK(env_close(f) == KV_OK);
}

static void close_writer(struct wal_writer *w)
{
    if (w)
        FUZZ_CHECK(wal_writer_close(w) == KV_OK);
}

/* Creates an empty file named name[0..n) in DIR (not "." or ".."). */
static void write_named(struct env *env, const char *name, size_t n)
{
    char path[sizeof DIR + 1 + NAME_BYTES_MAX + 1];
    size_t len = n < NAME_BYTES_MAX ? n : NAME_BYTES_MAX;
    memcpy(path, DIR "/", sizeof DIR);
    for (size_t i = 0; i < len; i++)
        path[sizeof DIR + i] = name[i] == '/' || name[i] == 0 ? '_' : name[i];
    path[sizeof DIR + len] = 0;
    if (strcmp(path + sizeof DIR, ".") != 0 && strcmp(path + sizeof DIR, "..") != 0)
        write_file(env, path, "", 0);
}

/* Writes the directory the input describes. */
static void build_dir(struct env *env, const char *in, size_t size)
{
    struct files fs = { 0 };
    FUZZ_CHECK(env_mkdir(env, DIR) == KV_OK);
    while (size > 0) {
        uint8_t kind = (uint8_t)in[0] % 6;
        size_t n = size >= 3 ? (size_t)((uint8_t)in[1] << 8 | (uint8_t)in[2]) : 0;
        size_t hdr = size >= 3 ? 3 : size;
        if (n > size - hdr)
            n = size - hdr;
        const char *p = in + hdr;
        char path[FILENAME_PATH_BYTES_MAX];
        switch (kind) {
        case 0:
            FUZZ_CHECK(filename_path(path, DIR, FILENAME_CURRENT_FILE, 0) == KV_OK);
            write_file(env, path, p, n);
            fs.current = true;
            break;
        case 1: add_record(env, &fs.manifest, FILENAME_MANIFEST, MANIFEST_NUMBER, p, n); break;
        case 2: add_record(env, &fs.log2, FILENAME_LOG, 2, p, n); break;
        case 3: add_record(env, &fs.log3, FILENAME_LOG, 3, p, n); break;
        case 4:
            FUZZ_CHECK(filename_path(path, DIR, FILENAME_TABLE, 10 + (uint64_t)fs.tables++) == KV_OK);
            write_file(env, path, p, n);
            break;
        default:
            if (n > 0)
                write_named(env, p, n);
            break;
        }
        in += hdr + n;
        size -= hdr + n;
    }
    if (!fs.current) {
        static const char text[] = "MANIFEST-000001\n";
        char path[FILENAME_PATH_BYTES_MAX];
        FUZZ_CHECK(filename_path(path, DIR, FILENAME_CURRENT_FILE, 0) == KV_OK);
        write_file(env, path, text, sizeof text - 1);
    }
    close_writer(fs.manifest);
    close_writer(fs.log2);
    close_writer(fs.log3);
}

/* Walks every key; returns true if the walk ended cleanly. *sum and *n
 * describe what was seen (keys and values, in order). */
static bool walk(struct engine *e, uint64_t *sum, uint64_t *n)
{
    struct engine_iter *it;
    *sum = 0;
    *n = 0;
    int rc = engine_iter_new(e, NULL, &it);
    FUZZ_CHECK(rc == KV_OK || rc == KV_ECORRUPT); /* a damaged table */
    if (rc != KV_OK)
        return false;
    engine_iter_seek_first(it);
    for (int steps = 0; engine_iter_valid(it) && steps < STEPS_MAX; steps++, engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it), v = engine_iter_value(it);
        *sum = kv_hash64(k.data, k.len, *sum) ^ kv_hash64(v.data, v.len, *sum + 1);
        (*n)++;
    }
    int st = engine_iter_status(it);
    bool clean = !engine_iter_valid(it) && st == KV_OK;
    FUZZ_CHECK(st == KV_OK || st == KV_ECORRUPT);
    engine_iter_free(it);
    return clean;
}

static int open_engine(struct env *env, bool create, struct engine **out)
{
    struct engine_options o;
    engine_options_default(&o);
    o.env = env;
    o.sync = ENGINE_SYNC_NONE;
    o.create_if_missing = create;
    o.memtable_bytes = 64 * 1024; /* big logs flush during replay */
    return engine_open(DIR, &o, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kv_log_set_level(KV_LOG_OFF); /* damage is logged by design */
    struct env *env;
    FUZZ_CHECK(env_mem_new(&env) == KV_OK);
    build_dir(env, (const char *)data, size);
    struct engine *e = NULL;
    int rc = open_engine(env, false, &e);
    FUZZ_CHECK(rc == KV_OK || rc == KV_ECORRUPT || rc == KV_ENOTFOUND || rc == KV_EINVAL);
    if (rc == KV_OK) {
        uint64_t sum, n, sum2, n2;
        bool clean = walk(e, &sum, &n);
        (void)engine_close(e);
        if (clean) {
            FUZZ_CHECK(open_engine(env, false, &e) == KV_OK);
            FUZZ_CHECK(walk(e, &sum2, &n2) && sum2 == sum && n2 == n);
            (void)engine_close(e);
        }
    }
    env_destroy(env);
    return 0;
}
