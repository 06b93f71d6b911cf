/*
 * wal.c - writer and reader of the log format in wal.h / FORMAT.md.
 *
 * Writer: a record's fragments (headers, payload pieces, block-tail
 * padding) are laid out in one reusable staging buffer and handed to the
 * env in one append, so a small record costs one CRC pass, one memcpy and
 * one write(2). Records larger than WAL_STAGE_BYTES_MAX are appended in
 * several pieces to bound the buffer. If an append fails, the file may
 * hold part of a record and the writer's idea of the block offset may be
 * wrong, so the error is sticky (also for running out of memory mid-record):
 * every later call returns it. The caller starts a new log.
 *
 * Reader: the file is read one 32 KiB block per pread into a buffer owned
 * by the reader. A record that fits in one fragment is returned as a
 * slice of that buffer (no copy); a record spanning fragments is gathered
 * in a scratch buffer that is reused from record to record.
 *
 * Telling a torn tail from corruption: at the first fragment that fails a
 * check (type, length, CRC) the reader looks at every byte offset after it
 * for the start of a valid record (a FULL or FIRST fragment with a good
 * CRC). None: the bad bytes are the tail of a write that a crash cut
 * short, and the log ends at the last whole record. One: something was
 * written after the damage, which a crash cannot produce, so the log is
 * corrupt. The scan runs once per file, only after damage is found, and
 * costs a CRC over candidate fragments (those whose type byte and length
 * fit). Known limit: a torn record whose own payload embeds a complete,
 * valid WAL fragment reads as corruption (refusing is the safe error).
 */
#include "storage/wal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"

enum wal_fragment_type {
    WAL_TYPE_ZERO = 0, /* padding; never a valid fragment */
    WAL_TYPE_FULL = 1,
    WAL_TYPE_FIRST = 2,
    WAL_TYPE_MIDDLE = 3,
    WAL_TYPE_LAST = 4,
};
#define WAL_TYPE_MAX WAL_TYPE_LAST

/* Header offsets: crc at 0 (4 bytes), length at 4 (2 bytes), type at 6 (1 byte). */
#define WAL_HEADER_CRC_OFFSET 0
#define WAL_HEADER_LEN_OFFSET 4
#define WAL_HEADER_TYPE_OFFSET 6
/* The largest payload of one fragment: a whole block minus its header. */
#define WAL_FRAGMENT_PAYLOAD_BYTES_MAX (WAL_BLOCK_BYTES - WAL_HEADER_BYTES)
/* Staging buffer: appended in one go up to this size (1 MiB). */
#define WAL_STAGE_BYTES_MAX (1024 * 1024)
/* What one fragment can add to the stage: tail padding + header + payload. */
#define WAL_STAGE_STEP_BYTES_MAX ((WAL_HEADER_BYTES - 1) + WAL_BLOCK_BYTES)

_Static_assert(WAL_HEADER_BYTES == 7, "header layout is crc:4 len:2 type:1");
_Static_assert(WAL_FRAGMENT_PAYLOAD_BYTES_MAX <= UINT16_MAX, "fragment length must fit the 16-bit field");
_Static_assert(WAL_RECORD_BYTES_MAX <= SIZE_MAX / 2, "records must fit in memory");

static uint32_t fragment_crc(uint8_t type, const char *payload, size_t len)
{
    char t = (char)type;
    return kv_crc32c_mask(kv_crc32c_extend(kv_crc32c(&t, 1), payload, len));
}

/* ---- writer ---- */

struct wal_writer {
    struct env_file *f;
    uint64_t size;         /* bytes in the file, including staged-and-appended ones */
    size_t block_offset;   /* where the next byte lands within its block */
    int status;            /* first append error; sticky */
    char *stage;
    size_t stage_len, stage_cap;
};

int wal_writer_new(struct env_file *f, uint64_t initial_size, struct wal_writer **out)
{
    struct wal_writer *w = calloc(1, sizeof *w);
    if (!w)
        return KV_ENOMEM;
    w->f = f;
    w->size = initial_size;
    w->block_offset = (size_t)(initial_size % WAL_BLOCK_BYTES);
    *out = w;
    return KV_OK;
}

static int writer_flush(struct wal_writer *w)
{
    if (w->stage_len == 0)
        return KV_OK;
    int rc = env_append(w->f, w->stage, w->stage_len);
    if (rc != KV_OK) {
        w->status = rc;
        log_error("wal", "append failed offset=%llu status=%s", (unsigned long long)w->size,
                  kv_status_str(rc));
        return rc;
    }
    w->size += w->stage_len;
    w->stage_len = 0;
    return KV_OK;
}

/* Makes room for one more fragment: flushes a full stage, else grows it
 * towards `want` (the whole record's estimate) so a record of a few
 * hundred KiB is staged after at most a few reallocs. */
static int writer_room(struct wal_writer *w, size_t want)
{
    if (w->stage_len + WAL_STAGE_STEP_BYTES_MAX <= w->stage_cap)
        return KV_OK;
    if (w->stage_len >= WAL_STAGE_BYTES_MAX) {
        int rc = writer_flush(w);
        if (rc != KV_OK || w->stage_len + WAL_STAGE_STEP_BYTES_MAX <= w->stage_cap)
            return rc;
    }
    size_t need = w->stage_len + (want > WAL_STAGE_STEP_BYTES_MAX ? want : WAL_STAGE_STEP_BYTES_MAX);
    size_t limit = WAL_STAGE_BYTES_MAX + WAL_STAGE_STEP_BYTES_MAX;
    size_t cap = w->stage_cap ? w->stage_cap * 2 : 2 * WAL_STAGE_STEP_BYTES_MAX;
    while (cap < need && cap < limit)
        cap *= 2;
    if (cap > limit)
        cap = limit; /* still >= stage_len + one step, as stage_len < WAL_STAGE_BYTES_MAX */
    char *p = realloc(w->stage, cap);
    if (!p)
        return KV_ENOMEM;
    w->stage = p;
    w->stage_cap = cap;
    return KV_OK;
}

static void writer_put_fragment(struct wal_writer *w, uint8_t type, const char *payload, size_t len)
{
    char *h = w->stage + w->stage_len;
    kv_put_fixed32(h + WAL_HEADER_CRC_OFFSET, fragment_crc(type, payload, len));
    h[WAL_HEADER_LEN_OFFSET] = (char)(len & 0xff);
    h[WAL_HEADER_LEN_OFFSET + 1] = (char)(len >> 8);
    h[WAL_HEADER_TYPE_OFFSET] = (char)type;
    if (len)
        memcpy(h + WAL_HEADER_BYTES, payload, len);
    w->stage_len += WAL_HEADER_BYTES + len;
    w->block_offset += WAL_HEADER_BYTES + len;
}

int wal_writer_add(struct wal_writer *w, struct kv_slice record)
{
    if (w->status != KV_OK)
        return w->status;
    if (record.len > WAL_RECORD_BYTES_MAX)
        return KV_ETOOBIG;
    const char *p = record.data;
    size_t left = record.len;
    /* Estimated staged size, so a mid-size record is sized in one realloc. */
    size_t want = left + (left / WAL_FRAGMENT_PAYLOAD_BYTES_MAX + 2) * WAL_HEADER_BYTES;
    bool begin = true;
    do {
        int rc = writer_room(w, want);
        if (rc != KV_OK)
            return w->status = rc; /* part of the record may be in the file already */
        size_t leftover = WAL_BLOCK_BYTES - w->block_offset;
        if (leftover < WAL_HEADER_BYTES) {
            /* Too small for a header: zero-fill the block tail and move on. */
            memset(w->stage + w->stage_len, 0, leftover);
            w->stage_len += leftover;
            w->block_offset = 0;
        }
        size_t avail = WAL_BLOCK_BYTES - w->block_offset - WAL_HEADER_BYTES;
        size_t n = left < avail ? left : avail;
        bool end = n == left;
        uint8_t type = begin && end ? WAL_TYPE_FULL
                     : begin       ? WAL_TYPE_FIRST
                     : end         ? WAL_TYPE_LAST
                                   : WAL_TYPE_MIDDLE;
        writer_put_fragment(w, type, p, n);
        p += n;
        left -= n;
        begin = false;
    } while (left > 0);
    return writer_flush(w);
}

int wal_writer_sync(struct wal_writer *w)
{
    if (w->status != KV_OK)
        return w->status;
    int rc = env_sync(w->f);
    if (rc != KV_OK) {
        /* After a failed fsync the kernel may have dropped the dirty pages:
         * nothing written so far can be trusted to be durable. */
        w->status = rc;
        log_error("wal", "sync failed size=%llu status=%s", (unsigned long long)w->size, kv_status_str(rc));
    }
    return rc;
}

struct env_file *wal_writer_file(struct wal_writer *w) { return w->f; }

void wal_writer_fail(struct wal_writer *w, int rc)
{
    if (w->status == KV_OK)
        w->status = rc;
    log_error("wal", "sync failed size=%llu status=%s", (unsigned long long)w->size, kv_status_str(rc));
}

uint64_t wal_writer_size(const struct wal_writer *w) { return w->size; }

int wal_writer_close(struct wal_writer *w)
{
    if (!w)
        return KV_OK;
    int rc = env_close(w->f);
    free(w->stage);
    free(w);
    return rc;
}

/* ---- reader ---- */

struct wal_reader {
    struct env_file *f;
    char *block;          /* WAL_BLOCK_BYTES */
    uint64_t block_start; /* file offset of block[0] */
    size_t block_len;     /* valid bytes in block */
    size_t pos;           /* next fragment header within block */
    bool started;         /* the first block has been read */
    struct kv_buf scratch;
    uint64_t good_offset;
    uint64_t dropped;
    int status; /* KV_OK while reading; then the sticky end (ENOTFOUND, ECORRUPT, EIO) */
};

int wal_reader_new(struct env_file *f, struct wal_reader **out)
{
    struct wal_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->block = malloc(WAL_BLOCK_BYTES))) {
        free(r);
        return KV_ENOMEM;
    }
    r->f = f;
    *out = r;
    return KV_OK;
}

/* Reads the block after the current one. *got is 0 at the end of the file. */
static int reader_load_next(struct wal_reader *r, size_t *got)
{
    uint64_t start = r->started ? r->block_start + WAL_BLOCK_BYTES : 0;
    size_t n = 0;
    int rc = env_pread(r->f, start, r->block, WAL_BLOCK_BYTES, &n);
    if (rc != KV_OK) {
        log_error("wal", "read failed offset=%llu status=%s", (unsigned long long)start, kv_status_str(rc));
        return rc;
    }
    r->started = true;
    r->block_start = start;
    r->block_len = n;
    r->pos = 0;
    *got = n;
    return KV_OK;
}

/* True if a whole, checksum-valid fragment starts at b[at] (within len bytes). */
static bool fragment_ok(const char *b, size_t len, size_t at, uint8_t *type_out, size_t *plen_out)
{
    if (len - at < WAL_HEADER_BYTES)
        return false;
    const unsigned char *h = (const unsigned char *)b + at;
    uint8_t type = h[WAL_HEADER_TYPE_OFFSET];
    size_t plen = (size_t)h[WAL_HEADER_LEN_OFFSET] | (size_t)h[WAL_HEADER_LEN_OFFSET + 1] << 8;
    if (type == WAL_TYPE_ZERO || type > WAL_TYPE_MAX || plen > len - at - WAL_HEADER_BYTES)
        return false;
    if (kv_get_fixed32(b + at + WAL_HEADER_CRC_OFFSET) != fragment_crc(type, b + at + WAL_HEADER_BYTES, plen))
        return false;
    *type_out = type;
    *plen_out = plen;
    return true;
}

/* True if a valid FULL or FIRST fragment starts anywhere in b[from, len). */
static bool block_has_record_start(const char *b, size_t len, size_t from)
{
    for (size_t at = from; at + WAL_HEADER_BYTES <= len; at++) {
        uint8_t t = (uint8_t)b[at + WAL_HEADER_TYPE_OFFSET];
        uint8_t type;
        size_t plen;
        if ((t == WAL_TYPE_FULL || t == WAL_TYPE_FIRST) && fragment_ok(b, len, at, &type, &plen))
            return true;
    }
    return false;
}

/* The log ends here: everything after good_offset is a dropped torn tail. */
static int reader_end(struct wal_reader *r)
{
    uint64_t end = r->block_start + r->block_len;
    r->dropped = end > r->good_offset ? end - r->good_offset : 0;
    if (r->dropped)
        log_info("wal", "torn tail dropped offset=%llu bytes=%llu", (unsigned long long)r->good_offset,
                 (unsigned long long)r->dropped);
    r->status = KV_ENOTFOUND;
    return r->status;
}

static int reader_corrupt(struct wal_reader *r, uint64_t offset, const char *why)
{
    log_error("wal", "corrupt log offset=%llu reason=%s", (unsigned long long)offset, why);
    r->status = KV_ECORRUPT;
    return r->status;
}

/* A fragment at block offset `at` failed a check: torn tail or corruption? */
static int reader_bad_fragment(struct wal_reader *r, size_t at, const char *why)
{
    uint64_t bad_offset = r->block_start + at;
    size_t from = at + 1;
    for (;;) {
        if (block_has_record_start(r->block, r->block_len, from))
            return reader_corrupt(r, bad_offset, why);
        if (r->block_len < WAL_BLOCK_BYTES)
            return reader_end(r);
        size_t got;
        int rc = reader_load_next(r, &got);
        if (rc != KV_OK)
            return r->status = rc;
        if (got == 0)
            return reader_end(r);
        from = 0;
    }
}

/* Adds one fragment's payload to the record being gathered in scratch. */
static int reader_gather(struct wal_reader *r, const char *payload, size_t len)
{
    if (r->scratch.len + len > WAL_RECORD_BYTES_MAX)
        return reader_corrupt(r, r->block_start + r->pos, "record over size limit");
    int rc = kv_buf_append(&r->scratch, payload, len);
    if (rc != KV_OK)
        r->status = rc;
    return rc;
}

int wal_reader_next(struct wal_reader *r, struct kv_slice *out)
{
    bool in_record = false;
    while (r->status == KV_OK) {
        if (!r->started || r->block_len - r->pos < WAL_HEADER_BYTES) {
            /* Block exhausted (its tail, if any, is padding). A short block is the last. */
            if (r->started && r->block_len < WAL_BLOCK_BYTES)
                return reader_end(r);
            size_t got;
            int rc = reader_load_next(r, &got);
            if (rc != KV_OK)
                return r->status = rc;
            continue;
        }
        uint8_t type;
        size_t len;
        if (!fragment_ok(r->block, r->block_len, r->pos, &type, &len))
            return reader_bad_fragment(r, r->pos, "bad fragment");
        const char *payload = r->block + r->pos + WAL_HEADER_BYTES;
        size_t frag_at = r->pos;
        r->pos += WAL_HEADER_BYTES + len;
        if ((type == WAL_TYPE_FULL || type == WAL_TYPE_FIRST) && in_record)
            return reader_corrupt(r, r->block_start + frag_at, "record start inside a record");
        if ((type == WAL_TYPE_MIDDLE || type == WAL_TYPE_LAST) && !in_record)
            return reader_corrupt(r, r->block_start + frag_at, "record continuation without a start");
        if (type == WAL_TYPE_FULL) {
            r->good_offset = r->block_start + r->pos;
            *out = kv_slice_make(payload, len);
            return KV_OK;
        }
        if (type == WAL_TYPE_FIRST) {
            kv_buf_reset(&r->scratch);
            in_record = true;
        }
        if (reader_gather(r, payload, len) != KV_OK)
            return r->status;
        if (type == WAL_TYPE_LAST) {
            r->good_offset = r->block_start + r->pos;
            *out = kv_slice_make(r->scratch.data, r->scratch.len);
            return KV_OK;
        }
    }
    return r->status;
}

uint64_t wal_reader_dropped_bytes(const struct wal_reader *r) { return r->dropped; }

uint64_t wal_reader_good_offset(const struct wal_reader *r) { return r->good_offset; }

void wal_reader_free(struct wal_reader *r)
{
    if (!r)
        return;
    int rc = env_close(r->f);
    (void)rc; /* a read-only file: nothing can be lost on close */
    kv_buf_free(&r->scratch);
    free(r->block);
    free(r);
}
