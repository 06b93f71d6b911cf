/*
 * fuzz_wal.c - feeds arbitrary bytes to the WAL reader as a log file.
 *
 * Must never crash, leak or read out of bounds (ASan/UBSan), and must keep
 * its promises: the read ends with end-of-log, corruption or an I/O error;
 * at end-of-log good offset + dropped bytes = file size. Records that were
 * read are written to a fresh log and must read back identically (the
 * writer and reader agree on every layout the reader accepts).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "storage/env.h"
#include "storage/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Reads every record of path into recs (concatenated) and lens; returns the end status. */
static int read_all(struct env *env, const char *path, struct kv_buf *recs, struct kv_buf *lens, uint64_t size)
{
    struct env_file *f;
    struct wal_reader *r;
    FUZZ_CHECK(env_open(env, path, ENV_OPEN_READ, &f) == KV_OK);
    FUZZ_CHECK(wal_reader_new(f, &r) == KV_OK);
    struct kv_slice rec;
    int rc;
    while ((rc = wal_reader_next(r, &rec)) == KV_OK) {
        FUZZ_CHECK(rec.len <= size);
        uint64_t n = rec.len;
        FUZZ_CHECK(kv_buf_append(recs, rec.data, rec.len) == KV_OK);
        FUZZ_CHECK(kv_buf_append(lens, &n, sizeof n) == KV_OK);
        FUZZ_CHECK(wal_reader_good_offset(r) <= size);
    }
    FUZZ_CHECK(rc == KV_ENOTFOUND || rc == KV_ECORRUPT);
    FUZZ_CHECK(wal_reader_next(r, &rec) == rc); /* the end is sticky */
    if (rc == KV_ENOTFOUND)
        FUZZ_CHECK(wal_reader_good_offset(r) + wal_reader_dropped_bytes(r) == size);
    wal_reader_free(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kv_log_set_level(KV_LOG_OFF);
    struct env *env;
    struct env_file *f;
    FUZZ_CHECK(env_mem_new(&env) == KV_OK);
    FUZZ_CHECK(env_open(env, "/in", ENV_OPEN_TRUNCATE, &f) == KV_OK);
    FUZZ_CHECK(env_append(f, data, size) == KV_OK);
    FUZZ_CHECK(env_close(f) == KV_OK);
    struct kv_buf recs = { 0 }, lens = { 0 }, recs2 = { 0 }, lens2 = { 0 };
    read_all(env, "/in", &recs, &lens, size);

    /* Re-encode what was read; it must read back the same, cleanly. */
    struct wal_writer *w;
    FUZZ_CHECK(env_open(env, "/out", ENV_OPEN_TRUNCATE, &f) == KV_OK);
    FUZZ_CHECK(wal_writer_new(f, 0, &w) == KV_OK);
    size_t off = 0;
    for (size_t i = 0; i < lens.len / sizeof(uint64_t); i++) {
        uint64_t n;
        memcpy(&n, lens.data + i * sizeof n, sizeof n);
        FUZZ_CHECK(wal_writer_add(w, kv_slice_make(recs.data + off, (size_t)n)) == KV_OK);
        off += (size_t)n;
    }
    uint64_t out_size = wal_writer_size(w);
    FUZZ_CHECK(wal_writer_close(w) == KV_OK);
    FUZZ_CHECK(read_all(env, "/out", &recs2, &lens2, out_size) == KV_ENOTFOUND);
    FUZZ_CHECK(recs.len == recs2.len && lens.len == lens2.len);
    FUZZ_CHECK(recs.len == 0 || memcmp(recs.data, recs2.data, recs.len) == 0);
    FUZZ_CHECK(lens.len == 0 || memcmp(lens.data, lens2.data, lens.len) == 0);

    kv_buf_free(&recs);
    kv_buf_free(&lens);
    kv_buf_free(&recs2);
    kv_buf_free(&lens2);
    env_destroy(env);
    return 0;
}
