/*
 * table.c - see table.h; byte layout in storage/FORMAT.md ("SSTable").
 *
 * Writer: entries go into a data block builder; when the block reaches
 * block_bytes it is written (contents + trailer) and its index entry waits
 * for the next key, so that the separator can be the shortest key between
 * the block's last key and the next block's first key. Output is staged in
 * a buffer and appended to the file TABLE_WRITE_BUFFER_BYTES at a time.
 *
 * Reader: the hot path is table_get on a mapped (or cached) block: bloom
 * probe, index binary search (index keys are read in place), a pointer
 * into the mapping (or one cache lookup), a data block seek with
 * iterators on the stack, and one copy of the value into the caller's
 * buffer. Nothing is allocated unless the caller's buffer
 * must grow or a key is longer than BLOCK_ITER_INLINE_KEY_BYTES.
 */
#include "storage/table.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/block.h"
#include "storage/bloom.h"

#define TABLE_WRITE_BUFFER_BYTES (64u * 1024u)
#define TABLE_BLOCK_BYTES_DEFAULT 4096
#define TABLE_RESTART_INTERVAL_DEFAULT 16
#define TABLE_BLOOM_BITS_PER_KEY_DEFAULT 10

_Static_assert(TABLE_FOOTER_BYTES == 76, "footer size is part of the format");
_Static_assert(TABLE_FOOTER_MAGIC_OFFSET + 8 == TABLE_FOOTER_BYTES, "magic ends the footer");

struct handle {
    uint64_t offset;
    uint64_t size; /* contents only, without the trailer */
};

void table_options_default(struct table_options *o)
{
    o->block_bytes = TABLE_BLOCK_BYTES_DEFAULT;
    o->restart_interval = TABLE_RESTART_INTERVAL_DEFAULT;
    o->bloom_bits_per_key = TABLE_BLOOM_BITS_PER_KEY_DEFAULT;
}

static char *handle_encode(char *p, struct handle h)
{
    p = kv_put_varint64(p, h.offset);
    return kv_put_varint64(p, h.size);
}

/* Decodes a handle that must fill [p, limit) exactly (index values) or a
 * prefix of it (footer slots, zero-padded): `exact` says which. */
static int handle_decode(const char *p, const char *limit, bool exact, struct handle *out)
{
    struct handle h;
    p = kv_get_varint64(p, limit, &h.offset);
    if (p)
        p = kv_get_varint64(p, limit, &h.size);
    if (!p || (exact && p != limit))
        return KV_ECORRUPT;
    *out = h;
    return KV_OK;
}

/* ======================================================================
 * Builder
 * ====================================================================== */

struct table_builder {
    struct env_file *f;
    struct table_options o;
    struct block_builder *data;
    struct block_builder *index;
    struct kv_buf out;           /* bytes not yet appended to f */
    uint64_t offset;             /* table bytes so far, including out */
    struct kv_buf last_key;
    struct kv_buf scratch;       /* separators, tombstone keys */
    bool pending_index;          /* the last written data block awaits its index entry */
    struct handle pending;
    uint64_t *hashes;            /* bloom_hash of each distinct user key */
    size_t nhashes, hashes_cap;
    struct kv_buf rt_arena;      /* begin ++ end of each range tombstone */
    struct rt_rec { size_t off; size_t begin_len, end_len; uint64_t seq; } *rts;
    size_t nrts, rts_cap;
    uint64_t entries;
    int status;                  /* first write error; sticky */
    bool finished;
};

int table_builder_new(struct env_file *f, const struct table_options *o, struct table_builder **out)
{
    if (o->restart_interval < 1 || o->bloom_bits_per_key < 0 || o->block_bytes == 0) {
        log_error("table", "invalid builder options restart_interval=%d bloom_bits_per_key=%d", o->restart_interval,
                  o->bloom_bits_per_key);
        return KV_EINVAL;
    }
    struct table_builder *b = calloc(1, sizeof *b);
    if (!b)
        return KV_ENOMEM;
    b->f = f;
    b->o = *o;
    int rc = block_builder_new(o->restart_interval, &b->data);
    if (rc == KV_OK)
        rc = block_builder_new(TABLE_INDEX_RESTART_INTERVAL, &b->index);
    if (rc != KV_OK)
        goto fail;
    *out = b;
    return KV_OK;
fail:
    table_builder_free(b);
    return rc;
}

void table_builder_free(struct table_builder *b)
{
    if (!b)
        return;
    block_builder_free(b->data);
    block_builder_free(b->index);
    kv_buf_free(&b->out);
    kv_buf_free(&b->last_key);
    kv_buf_free(&b->scratch);
    kv_buf_free(&b->rt_arena);
    free(b->hashes);
    free(b->rts);
    free(b);
}

uint64_t table_builder_entries(const struct table_builder *b) { return b->entries; }
uint64_t table_builder_file_bytes(const struct table_builder *b) { return b->offset; }

static int flush_out(struct table_builder *b)
{
    if (b->out.len == 0)
        return KV_OK;
    int rc = env_append(b->f, b->out.data, b->out.len);
    kv_buf_reset(&b->out);
    return rc;
}

/* Stages contents + trailer and returns the block's handle. */
static int write_block(struct table_builder *b, struct kv_slice contents, struct handle *h)
{
    int rc = kv_buf_reserve(&b->out, contents.len + TABLE_BLOCK_TRAILER_BYTES);
    if (rc != KV_OK)
        return rc;
    char *p = b->out.data + b->out.len;
    memcpy(p, contents.data, contents.len);
    p[contents.len] = TABLE_BLOCK_TYPE_RAW;
    uint32_t crc = kv_crc32c(p, contents.len + 1); /* contents and type in one pass */
    kv_put_fixed32(p + contents.len + 1, kv_crc32c_mask(crc));
    b->out.len += contents.len + TABLE_BLOCK_TRAILER_BYTES;
    b->out.data[b->out.len] = 0;
    h->offset = b->offset;
    h->size = contents.len;
    b->offset += contents.len + TABLE_BLOCK_TRAILER_BYTES;
    return b->out.len >= TABLE_WRITE_BUFFER_BYTES ? flush_out(b) : KV_OK;
}

/*
 * Sets b->scratch to an internal key k with a <= k < next (next NULL: any
 * k >= a), preferring a short one: the user key is cut after the first
 * byte where a and next differ, that byte raised by one. The trailer
 * (KV_SEQ_MAX, IKEY_TYPE_SEEK) sorts first among entries of that user key.
 */
static int make_separator(struct table_builder *b, struct kv_slice a, const struct kv_slice *next)
{
    struct kv_slice ua = ikey_user(a);
    size_t cut = ua.len; /* the separator's user key is ua[0..cut) with byte cut-1 raised */
    if (next) {
        struct kv_slice un = ikey_user(*next);
        size_t n = ua.len < un.len ? ua.len : un.len, i = 0;
        while (i < n && ua.data[i] == un.data[i])
            i++;
        if (i < n && (unsigned char)ua.data[i] < 0xff && (unsigned char)ua.data[i] + 1 < (unsigned char)un.data[i])
            cut = i + 1;
    } else {
        for (size_t i = 0; i < ua.len; i++) {
            if ((unsigned char)ua.data[i] != 0xff) {
                cut = i + 1;
                break;
            }
        }
    }
    if (cut >= ua.len) /* no shorter key: a itself */
        return kv_buf_set(&b->scratch, a.data, a.len);
    int rc = kv_buf_reserve(&b->scratch, cut + IKEY_TRAILER_BYTES);
    if (rc != KV_OK)
        return rc;
    b->scratch.len = ikey_encode(b->scratch.data, ua.data, cut, KV_SEQ_MAX, IKEY_TYPE_SEEK);
    b->scratch.data[cut - 1]++;
    b->scratch.data[b->scratch.len] = 0;
    return KV_OK;
}

static int add_index_entry(struct table_builder *b, const struct kv_slice *next)
{
    int rc = make_separator(b, kv_slice_make(b->last_key.data, b->last_key.len), next);
    if (rc != KV_OK)
        return rc;
    char enc[TABLE_BLOCK_HANDLE_BYTES_MAX];
    char *end = handle_encode(enc, b->pending);
    rc = block_builder_add(b->index, kv_slice_make(b->scratch.data, b->scratch.len),
                           kv_slice_make(enc, (size_t)(end - enc)));
    if (rc == KV_OK)
        b->pending_index = false;
    return rc;
}

static int flush_data_block(struct table_builder *b)
{
    if (block_builder_empty(b->data))
        return KV_OK;
    assert(!b->pending_index);
    struct kv_slice contents;
    int rc = block_builder_finish(b->data, &contents);
    if (rc == KV_OK)
        rc = write_block(b, contents, &b->pending);
    if (rc != KV_OK)
        return rc;
    block_builder_reset(b->data);
    b->pending_index = true;
    return KV_OK;
}

static int add_hash(struct table_builder *b, struct kv_slice user_key)
{
    if (b->nhashes == b->hashes_cap) {
        size_t cap = b->hashes_cap ? b->hashes_cap * 2 : 1024;
        uint64_t *h = realloc(b->hashes, cap * sizeof *h);
        if (!h)
            return KV_ENOMEM;
        b->hashes = h;
        b->hashes_cap = cap;
    }
    b->hashes[b->nhashes++] = bloom_hash(user_key);
    return KV_OK;
}

int table_builder_add(struct table_builder *b, struct kv_slice ikey, struct kv_slice value)
{
    if (b->status != KV_OK)
        return b->status;
    struct kv_slice last = kv_slice_make(b->last_key.data, b->last_key.len);
    if (b->finished || ikey.len < IKEY_TRAILER_BYTES || (b->entries > 0 && ikey_compare(ikey, last) <= 0)) {
        log_error("table", "key out of order or malformed entries=%llu key_bytes=%zu finished=%d",
                  (unsigned long long)b->entries, ikey.len, (int)b->finished);
        return KV_EINVAL;
    }
    int rc = KV_OK;
    if (b->pending_index)
        rc = add_index_entry(b, &ikey);
    /* Versions of one user key are adjacent: hash each user key once. */
    if (rc == KV_OK && b->o.bloom_bits_per_key > 0 &&
        (b->entries == 0 || !kv_slice_eq(ikey_user(ikey), ikey_user(last))))
        rc = add_hash(b, ikey_user(ikey));
    if (rc == KV_OK)
        rc = block_builder_add(b->data, ikey, value);
    if (rc == KV_OK)
        rc = kv_buf_set(&b->last_key, ikey.data, ikey.len);
    if (rc != KV_OK)
        goto fail;
    b->entries++;
    if (block_builder_size_estimate(b->data) >= b->o.block_bytes && (rc = flush_data_block(b)) != KV_OK)
        goto fail;
    return KV_OK;
fail:
    /* A half-added entry cannot be taken back: the builder is done for. */
    b->status = rc;
    return rc;
}

int table_builder_add_range_tombstone(struct table_builder *b, struct kv_slice begin, struct kv_slice end,
                                      uint64_t seq)
{
    if (b->status != KV_OK)
        return b->status;
    if (b->finished || seq > KV_SEQ_MAX)
        return KV_EINVAL;
    if (b->nrts == b->rts_cap) {
        size_t cap = b->rts_cap ? b->rts_cap * 2 : 8;
        struct rt_rec *r = realloc(b->rts, cap * sizeof *r);
        if (!r)
            return KV_ENOMEM;
        b->rts = r;
        b->rts_cap = cap;
    }
    size_t off = b->rt_arena.len;
    int rc = kv_buf_append(&b->rt_arena, begin.data, begin.len);
    if (rc == KV_OK)
        rc = kv_buf_append(&b->rt_arena, end.data, end.len);
    if (rc != KV_OK) {
        b->rt_arena.len = off;
        return rc;
    }
    b->rts[b->nrts++] = (struct rt_rec){ .off = off, .begin_len = begin.len, .end_len = end.len, .seq = seq };
    return KV_OK;
}

static int rt_cmp(const void *x, const void *y, void *arena)
{
    const struct rt_rec *a = x, *b = y;
    const char *base = arena;
    int r = kv_slice_cmp(kv_slice_make(base + a->off, a->begin_len), kv_slice_make(base + b->off, b->begin_len));
    if (r == 0)
        r = a->seq > b->seq ? -1 : a->seq < b->seq; /* ikey order: newer first */
    return r;
}

/* Range tombstones sorted in internal-key order, whole keys (restart interval 1). */
static int write_range_tombstones(struct table_builder *b, struct handle *h)
{
    struct block_builder *bb = NULL;
    int rc = block_builder_new(1, &bb);
    if (rc != KV_OK)
        return rc;
    if (b->nrts > 1)
        qsort_r(b->rts, b->nrts, sizeof *b->rts, rt_cmp, b->rt_arena.data);
    for (size_t i = 0; i < b->nrts && rc == KV_OK; i++) {
        const struct rt_rec *r = &b->rts[i];
        const char *begin = b->rt_arena.data + r->off;
        rc = kv_buf_reserve(&b->scratch, r->begin_len + IKEY_TRAILER_BYTES);
        if (rc != KV_OK)
            break;
        b->scratch.len = ikey_encode(b->scratch.data, begin, r->begin_len, r->seq, IKEY_TYPE_RANGE_DELETE);
        rc = block_builder_add(bb, kv_slice_make(b->scratch.data, b->scratch.len),
                               kv_slice_make(begin + r->begin_len, r->end_len));
    }
    struct kv_slice contents;
    if (rc == KV_OK)
        rc = block_builder_finish(bb, &contents);
    if (rc == KV_OK)
        rc = write_block(b, contents, h);
    block_builder_free(bb);
    return rc;
}

static int write_filter(struct table_builder *b, struct handle *h)
{
    if (b->o.bloom_bits_per_key == 0) {
        *h = (struct handle){ 0, 0 }; /* size 0: no filter (a real one is >= 9 bytes) */
        return KV_OK;
    }
    kv_buf_reset(&b->scratch);
    int rc = bloom_build(b->hashes, b->nhashes, b->o.bloom_bits_per_key, &b->scratch);
    if (rc == KV_OK)
        rc = write_block(b, kv_slice_make(b->scratch.data, b->scratch.len), h);
    return rc;
}

static int write_footer(struct table_builder *b, const struct handle hs[TABLE_FOOTER_HANDLES])
{
    char f[TABLE_FOOTER_BYTES];
    memset(f, 0, sizeof f);
    for (int i = 0; i < TABLE_FOOTER_HANDLES; i++)
        (void)handle_encode(f + i * TABLE_BLOCK_HANDLE_BYTES_MAX, hs[i]);
    kv_put_fixed32(f + TABLE_FOOTER_VERSION_OFFSET, TABLE_FORMAT_VERSION);
    kv_put_fixed32(f + TABLE_FOOTER_CRC_OFFSET, kv_crc32c_mask(kv_crc32c(f, TABLE_FOOTER_CRC_OFFSET)));
    kv_put_fixed64(f + TABLE_FOOTER_MAGIC_OFFSET, TABLE_MAGIC);
    int rc = kv_buf_append(&b->out, f, sizeof f);
    if (rc == KV_OK)
        b->offset += sizeof f;
    return rc;
}

int table_builder_finish(struct table_builder *b, uint64_t *file_bytes_out)
{
    if (b->status != KV_OK)
        return b->status;
    if (b->finished)
        return KV_EINVAL;
    struct handle hs[TABLE_FOOTER_HANDLES]; /* filter, range tombstones, index */
    struct kv_slice index;
    int rc = flush_data_block(b);
    if (rc == KV_OK && b->pending_index)
        rc = add_index_entry(b, NULL);
    if (rc == KV_OK)
        rc = write_filter(b, &hs[0]);
    if (rc == KV_OK)
        rc = write_range_tombstones(b, &hs[1]);
    if (rc == KV_OK)
        rc = block_builder_finish(b->index, &index);
    if (rc == KV_OK)
        rc = write_block(b, index, &hs[2]);
    if (rc == KV_OK)
        rc = write_footer(b, hs);
    if (rc == KV_OK)
        rc = flush_out(b);
    if (rc != KV_OK) {
        b->status = rc;
        log_error("table", "finish failed status=%s bytes=%llu", kv_status_str(rc), (unsigned long long)b->offset);
        return rc;
    }
    b->finished = true;
    *file_bytes_out = b->offset;
    return KV_OK;
}

/* ======================================================================
 * Reader
 * ====================================================================== */

struct table {
    struct env_file *f;
    uint64_t file_bytes;
    uint64_t file_number;
    uint64_t data_end;           /* data blocks lie in [0, data_end) */
    uint64_t index_offset;       /* for error reports */
    struct cache *cache;
    char *index_mem;
    struct block index;
    char *filter_mem;            /* NULL: no filter */
    struct kv_slice filter;
    struct table_range_tombstone *rts; /* one allocation: array then the key bytes */
    size_t nrts;
    /* The whole file mapped (env_map), or NULL: data blocks are then read
     * in place, neither copied nor cached. verified[i] is set once the
     * block of index entry i passed its checksum (see block_map). */
    const char *map;
    atomic_uchar *verified;
    uint32_t nblocks;            /* index entries == length of verified */
};

/* A data block as it lives in the cache: the parsed view and its bytes
 * (contents + trailer) in one allocation. */
struct cached_block {
    struct block view;
    char bytes[];
};

static void cached_block_delete(uint64_t id, uint64_t offset, void *value) { free(value); }

/* A data block in use: held through the cache, or owned when there is no
 * cache (or inserting failed). */
struct block_ref {
    struct cache_handle *h;
    struct cached_block *owned;
    struct block view;           /* the parsed block when read from the mapping */
    const struct block *blk;
    uint64_t offset;             /* the block's offset in the file (its cache key) */
};

static int corrupt(const struct table *t, const char *what, uint64_t offset)
{
    log_error("table", "corrupt table file=%llu what=%s offset=%llu", (unsigned long long)t->file_number, what,
              (unsigned long long)offset);
    return KV_ECORRUPT;
}

/*
 * Reads the block at h into dst (room for h.size + TABLE_BLOCK_TRAILER_BYTES)
 * and checks its type and checksum. Callers check the handle against the
 * file first (handle_fits), so a damaged handle never causes a huge
 * allocation or a read outside the file.
 */
static int read_checked(struct table *t, struct handle h, char *dst)
{
    size_t n = (size_t)h.size + TABLE_BLOCK_TRAILER_BYTES;
    size_t nread = 0;
    int rc = env_pread(t->f, h.offset, dst, n, &nread);
    if (rc != KV_OK) {
        log_error("table", "read failed file=%llu offset=%llu status=%s", (unsigned long long)t->file_number,
                  (unsigned long long)h.offset, kv_status_str(rc));
        return rc;
    }
    if (nread != n)
        return corrupt(t, "short read", h.offset);
    if (dst[h.size] != TABLE_BLOCK_TYPE_RAW)
        return corrupt(t, "block type", h.offset);
    uint32_t crc = kv_crc32c(dst, (size_t)h.size + 1);
    if (kv_crc32c_mask(crc) != kv_get_fixed32(dst + h.size + 1))
        return corrupt(t, "block checksum", h.offset);
    return KV_OK;
}

static bool handle_fits(struct handle h, uint64_t bound)
{
    return h.offset <= bound && h.size <= bound - h.offset &&
           bound - h.offset - h.size >= TABLE_BLOCK_TRAILER_BYTES && h.size < BLOCK_BYTES_MAX;
}

/* Reads a whole metadata block into a new allocation (contents + trailer). */
static int read_meta(struct table *t, struct handle h, const char *what, char **out)
{
    if (!handle_fits(h, t->file_bytes - TABLE_FOOTER_BYTES))
        return corrupt(t, what, h.offset);
    char *mem = malloc((size_t)h.size + TABLE_BLOCK_TRAILER_BYTES);
    if (!mem)
        return KV_ENOMEM;
    int rc = read_checked(t, h, mem);
    if (rc != KV_OK) {
        free(mem);
        return rc;
    }
    *out = mem;
    return KV_OK;
}

static int read_footer(struct table *t, struct handle hs[TABLE_FOOTER_HANDLES])
{
    char f[TABLE_FOOTER_BYTES];
    size_t nread = 0;
    if (t->file_bytes < TABLE_FOOTER_BYTES)
        return corrupt(t, "file shorter than footer", t->file_bytes);
    uint64_t off = t->file_bytes - TABLE_FOOTER_BYTES;
    int rc = env_pread(t->f, off, f, sizeof f, &nread);
    if (rc != KV_OK) {
        log_error("table", "read failed file=%llu offset=%llu status=%s", (unsigned long long)t->file_number,
                  (unsigned long long)off, kv_status_str(rc));
        return rc;
    }
    if (nread != sizeof f)
        return corrupt(t, "short footer", off);
    if (kv_get_fixed64(f + TABLE_FOOTER_MAGIC_OFFSET) != TABLE_MAGIC)
        return corrupt(t, "magic", off);
    if (kv_crc32c_mask(kv_crc32c(f, TABLE_FOOTER_CRC_OFFSET)) != kv_get_fixed32(f + TABLE_FOOTER_CRC_OFFSET))
        return corrupt(t, "footer checksum", off);
    if (kv_get_fixed32(f + TABLE_FOOTER_VERSION_OFFSET) != TABLE_FORMAT_VERSION)
        return corrupt(t, "format version", off);
    for (int i = 0; i < TABLE_FOOTER_HANDLES; i++) {
        const char *slot = f + i * TABLE_BLOCK_HANDLE_BYTES_MAX;
        if (handle_decode(slot, slot + TABLE_BLOCK_HANDLE_BYTES_MAX, false, &hs[i]) != KV_OK)
            return corrupt(t, "footer handle", off);
    }
    return KV_OK;
}

/* Copies the range-tombstone block into t->rts: two passes (count and size,
 * then copy) so that the array and its keys are one allocation. */
static int load_range_tombstones(struct table *t, const struct block *blk, uint64_t offset)
{
    struct block_iter it;
    size_t n = 0, bytes = 0;
    int rc = KV_OK;
    block_iter_init(&it, blk);
    for (block_iter_seek_first(&it); block_iter_valid(&it); block_iter_next(&it)) {
        if (ikey_kind(block_iter_key(&it)) != IKEY_TYPE_RANGE_DELETE)
            break;
        n++;
        bytes += block_iter_key(&it).len - IKEY_TRAILER_BYTES + block_iter_value(&it).len;
    }
    if (block_iter_valid(&it) || block_iter_status(&it) != KV_OK) {
        rc = corrupt(t, "range tombstone block", offset);
        goto done;
    }
    t->rts = malloc(n * sizeof *t->rts + bytes + 1);
    if (!t->rts) {
        rc = KV_ENOMEM;
        goto done;
    }
    char *p = (char *)(t->rts + n);
    size_t i = 0;
    for (block_iter_seek_first(&it); i < n && block_iter_valid(&it); block_iter_next(&it), i++) {
        struct kv_slice k = block_iter_key(&it), v = block_iter_value(&it);
        struct kv_slice u = ikey_user(k);
        memcpy(p, u.data, u.len);
        t->rts[i].begin = kv_slice_make(p, u.len);
        p += u.len;
        memcpy(p, v.data, v.len);
        t->rts[i].end = kv_slice_make(p, v.len);
        p += v.len;
        t->rts[i].seq = ikey_seq(k);
    }
    t->nrts = n;
done:
    block_iter_cleanup(&it);
    return rc;
}

static int load_meta(struct table *t, const struct handle hs[TABLE_FOOTER_HANDLES])
{
    char *rt_mem = NULL;
    struct block rt_blk;
    t->index_offset = hs[2].offset;
    int rc = read_meta(t, hs[2], "index", &t->index_mem);
    if (rc == KV_OK && block_parse(t->index_mem, (size_t)hs[2].size, &t->index) != KV_OK)
        rc = corrupt(t, "index block", hs[2].offset);
    if (rc == KV_OK && hs[0].size > 0) {
        rc = read_meta(t, hs[0], "filter", &t->filter_mem);
        t->filter = kv_slice_make(t->filter_mem, (size_t)hs[0].size);
    }
    if (rc == KV_OK)
        rc = read_meta(t, hs[1], "range tombstones", &rt_mem);
    if (rc == KV_OK && block_parse(rt_mem, (size_t)hs[1].size, &rt_blk) != KV_OK)
        rc = corrupt(t, "range tombstone block", hs[1].offset);
    if (rc == KV_OK)
        rc = load_range_tombstones(t, &rt_blk, hs[1].offset);
    free(rt_mem);
    /* Data blocks end where the first metadata block starts. */
    t->data_end = hs[1].offset < hs[2].offset ? hs[1].offset : hs[2].offset;
    if (hs[0].size > 0 && hs[0].offset < t->data_end)
        t->data_end = hs[0].offset;
    return rc;
}

/*
 * Maps the file when the env can, so that data blocks are read in place.
 * The verified flags are indexed by the index iterator's restart point,
 * which names the index entry only if every entry is a restart point (as
 * TABLE_INDEX_RESTART_INTERVAL writes it): checked here, and any other
 * table keeps the read path. Failing to map is not an error.
 */
static int try_map(struct table *t)
{
    struct block_iter ii;
    uint64_t n = 0;
    int rc = KV_OK;
    block_iter_init(&ii, &t->index);
    for (block_iter_seek_first(&ii); block_iter_valid(&ii); block_iter_next(&ii))
        n++;
    if (block_iter_status(&ii) != KV_OK)
        rc = corrupt(t, "index block", t->index_offset);
    block_iter_cleanup(&ii);
    if (rc != KV_OK || n != t->index.num_restarts || n == 0)
        return rc;
    t->verified = calloc((size_t)n, sizeof *t->verified);
    if (!t->verified)
        return KV_ENOMEM;
    if (env_map(t->f, t->file_bytes, &t->map) != KV_OK) {
        free(t->verified);
        t->verified = NULL;
        t->map = NULL;
        return KV_OK;
    }
    t->nblocks = (uint32_t)n;
    return KV_OK;
}

int table_open(struct env_file *f, uint64_t file_bytes, uint64_t file_number, struct cache *cache,
               struct table **out)
{
    struct handle hs[TABLE_FOOTER_HANDLES];
    struct table *t = calloc(1, sizeof *t);
    if (!t) {
        if (env_close(f) != KV_OK)
            log_warn("table", "close failed file=%llu", (unsigned long long)file_number);
        return KV_ENOMEM;
    }
    t->f = f;
    t->file_bytes = file_bytes;
    t->file_number = file_number;
    t->cache = cache;
    int rc = read_footer(t, hs);
    if (rc == KV_OK)
        rc = load_meta(t, hs);
    if (rc == KV_OK)
        rc = try_map(t);
    if (rc != KV_OK)
        goto fail;
    *out = t;
    return KV_OK;
fail:
    table_close(t);
    return rc;
}

void table_close(struct table *t)
{
    if (!t)
        return;
    int rc = env_close(t->f);
    if (rc != KV_OK)
        log_warn("table", "close failed file=%llu status=%s", (unsigned long long)t->file_number, kv_status_str(rc));
    free(t->index_mem);
    free(t->verified);
    free(t->filter_mem);
    free(t->rts);
    free(t);
}

const struct table_range_tombstone *table_range_tombstones(struct table *t, size_t *count)
{
    *count = t->nrts;
    return t->rts;
}

bool table_may_contain(struct table *t, struct kv_slice user_key)
{
    return !t->filter_mem || bloom_may_match(t->filter, bloom_hash(user_key));
}

/* Reads a data block from the file (no cache involved). */
static int read_data_block(struct table *t, struct handle h, struct cached_block **out)
{
    if (!handle_fits(h, t->data_end))
        return corrupt(t, "data block handle", h.offset);
    struct cached_block *cb = malloc(sizeof *cb + (size_t)h.size + TABLE_BLOCK_TRAILER_BYTES);
    if (!cb)
        return KV_ENOMEM;
    int rc = read_checked(t, h, cb->bytes);
    if (rc == KV_OK && block_parse(cb->bytes, (size_t)h.size, &cb->view) != KV_OK)
        rc = corrupt(t, "data block", h.offset);
    if (rc != KV_OK) {
        free(cb);
        return rc;
    }
    *out = cb;
    return KV_OK;
}

/*
 * Points ref at data block `ordinal` (handle h) inside the mapping. Its
 * checksum is checked on the first touch only: after that the block is
 * known good, and it cannot change (tables are immutable), so a read
 * costs no copy, no checksum and no cache traffic. Damage that appears in
 * a file after its blocks were checked (bit rot under an open table) is
 * not detected until the table is opened again.
 */
static int block_map(struct table *t, struct handle h, uint32_t ordinal, struct block_ref *ref)
{
    const char *p = t->map + h.offset;
    if (!atomic_load_explicit(&t->verified[ordinal], memory_order_acquire)) {
        if (p[h.size] != TABLE_BLOCK_TYPE_RAW)
            return corrupt(t, "block type", h.offset);
        if (kv_crc32c_mask(kv_crc32c(p, (size_t)h.size + 1)) != kv_get_fixed32(p + h.size + 1))
            return corrupt(t, "block checksum", h.offset);
        atomic_store_explicit(&t->verified[ordinal], 1, memory_order_release);
    }
    if (block_parse(p, (size_t)h.size, &ref->view) != KV_OK)
        return corrupt(t, "data block", h.offset);
    ref->blk = &ref->view;
    return KV_OK;
}

/* Finds the data block named by an index value (the index entry numbered
 * `ordinal`): in the mapping, else through the cache. */
static int block_acquire(struct table *t, struct kv_slice handle_enc, uint32_t ordinal, struct block_ref *ref)
{
    struct handle h;
    if (handle_decode(handle_enc.data, handle_enc.data + handle_enc.len, true, &h) != KV_OK)
        return corrupt(t, "index entry", t->index_offset);
    ref->h = NULL;
    ref->owned = NULL;
    ref->offset = h.offset;
    if (t->map) {
        if (!handle_fits(h, t->data_end) || ordinal >= t->nblocks)
            return corrupt(t, "data block handle", h.offset);
        return block_map(t, h, ordinal, ref);
    }
    if (t->cache) {
        ref->h = cache_lookup(t->cache, t->file_number, h.offset);
        if (ref->h) {
            ref->blk = &((struct cached_block *)cache_value(ref->h))->view;
            return KV_OK;
        }
    }
    struct cached_block *cb;
    int rc = read_data_block(t, h, &cb);
    if (rc != KV_OK)
        return rc;
    ref->blk = &cb->view;
    size_t charge = sizeof *cb + (size_t)h.size + TABLE_BLOCK_TRAILER_BYTES;
    if (!t->cache ||
        cache_insert(t->cache, t->file_number, h.offset, cb, charge, cached_block_delete, &ref->h) != KV_OK)
        ref->owned = cb; /* uncached: freed on release */
    return KV_OK;
}

static void block_release(struct table *t, struct block_ref *ref)
{
    if (ref->h)
        cache_release(t->cache, ref->h);
    free(ref->owned);
    ref->h = NULL;
    ref->owned = NULL;
    ref->blk = NULL;
}

int table_get(struct table *t, struct kv_slice lookup_ikey, bool *found, uint64_t *trailer_out,
              struct kv_buf *value_out)
{
    assert(lookup_ikey.len >= IKEY_TRAILER_BYTES);
    if (t->filter_mem && !bloom_may_match(t->filter, bloom_hash(ikey_user(lookup_ikey)))) {
        *found = false;
        return KV_OK;
    }
    struct block_iter ii, di;
    struct block_ref ref = { 0 };
    bool hit = false;
    int rc;
    block_iter_init(&ii, &t->index);
    block_iter_seek(&ii, lookup_ikey);
    if (!block_iter_valid(&ii)) { /* past the last block: absent */
        rc = block_iter_status(&ii) == KV_OK ? KV_OK : corrupt(t, "index block", t->index_offset);
        goto done_index;
    }
    rc = block_acquire(t, block_iter_value(&ii), ii.restart_idx, &ref);
    if (rc != KV_OK)
        goto done_index;
    block_iter_init(&di, ref.blk);
    block_iter_seek(&di, lookup_ikey);
    if (block_iter_valid(&di)) {
        struct kv_slice k = block_iter_key(&di);
        if (kv_slice_eq(ikey_user(k), ikey_user(lookup_ikey))) {
            struct kv_slice v = block_iter_value(&di);
            rc = kv_buf_set(value_out, v.data, v.len);
            if (rc == KV_OK) {
                *trailer_out = ikey_trailer(k);
                hit = true;
            }
        }
    } else if (block_iter_status(&di) != KV_OK) {
        rc = block_iter_status(&di) == KV_ECORRUPT ? corrupt(t, "data block", ref.offset) : block_iter_status(&di);
    }
    block_iter_cleanup(&di);
    block_release(t, &ref);
done_index:
    block_iter_cleanup(&ii);
    if (rc == KV_OK)
        *found = hit;
    return rc;
}

uint64_t table_approx_offset(struct table *t, struct kv_slice ikey)
{
    struct block_iter ii;
    struct handle h;
    uint64_t off = t->data_end;
    block_iter_init(&ii, &t->index);
    block_iter_seek(&ii, ikey);
    if (block_iter_valid(&ii) &&
        handle_decode(block_iter_value(&ii).data, block_iter_value(&ii).data + block_iter_value(&ii).len, true,
                      &h) == KV_OK)
        off = h.offset < t->data_end ? h.offset : t->data_end;
    block_iter_cleanup(&ii);
    return off;
}

/* ======================================================================
 * Two-level iterator: index block -> data block
 * ====================================================================== */

struct table_iter {
    struct iter base;
    struct table *t;
    struct block_iter index;
    struct block_iter data;      /* meaningful only while ref.blk != NULL */
    struct block_ref ref;        /* the pinned data block */
    int status;
};

static void ti_drop_block(struct table_iter *it)
{
    if (it->ref.blk)
        block_release(it->t, &it->ref);
}

static void ti_fail(struct table_iter *it, int rc)
{
    if (it->status == KV_OK)
        it->status = rc;
    ti_drop_block(it);
}

/* Points `data` at the block the index is on, reusing the pinned block if
 * it is the same one: cache handles change only between blocks. */
static bool ti_load_block(struct table_iter *it)
{
    if (!block_iter_valid(&it->index)) {
        if (block_iter_status(&it->index) != KV_OK)
            ti_fail(it, corrupt(it->t, "index block", it->t->index_offset));
        else
            ti_drop_block(it);
        return false;
    }
    struct kv_slice v = block_iter_value(&it->index);
    struct handle h;
    if (handle_decode(v.data, v.data + v.len, true, &h) != KV_OK) {
        ti_fail(it, corrupt(it->t, "index entry", it->t->index_offset));
        return false;
    }
    if (it->ref.blk && it->ref.offset == h.offset)
        return true;
    ti_drop_block(it);
    int rc = block_acquire(it->t, v, it->index.restart_idx, &it->ref);
    if (rc != KV_OK) {
        ti_fail(it, rc);
        return false;
    }
    block_iter_set_block(&it->data, it->ref.blk);
    return true;
}

/* After a move inside a block left `data` invalid: a damaged block stops the
 * iterator; otherwise step to the neighbouring block (blocks are never
 * empty in a table we wrote, but one may be in a crafted file). */
static bool ti_block_done(struct table_iter *it)
{
    int rc = block_iter_status(&it->data);
    if (rc != KV_OK) {
        ti_fail(it, rc == KV_ECORRUPT ? corrupt(it->t, "data block", it->ref.offset) : rc);
        return true;
    }
    return false;
}

static void ti_skip_forward(struct table_iter *it)
{
    while (it->ref.blk && !block_iter_valid(&it->data)) {
        if (ti_block_done(it))
            return;
        block_iter_next(&it->index);
        if (!ti_load_block(it))
            return;
        block_iter_seek_first(&it->data);
    }
}

static void ti_skip_backward(struct table_iter *it)
{
    while (it->ref.blk && !block_iter_valid(&it->data)) {
        if (ti_block_done(it))
            return;
        block_iter_prev(&it->index);
        if (!ti_load_block(it))
            return;
        block_iter_seek_last(&it->data);
    }
}

static bool ti_valid(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    return it->ref.blk && block_iter_valid(&it->data);
}

static void ti_seek_first(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    if (it->status != KV_OK)
        return;
    block_iter_seek_first(&it->index);
    if (ti_load_block(it)) {
        block_iter_seek_first(&it->data);
        ti_skip_forward(it);
    }
}

static void ti_seek_last(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    if (it->status != KV_OK)
        return;
    block_iter_seek_last(&it->index);
    if (ti_load_block(it)) {
        block_iter_seek_last(&it->data);
        ti_skip_backward(it);
    }
}

static void ti_seek(struct iter *i, struct kv_slice target)
{
    struct table_iter *it = (struct table_iter *)i;
    if (it->status != KV_OK)
        return;
    block_iter_seek(&it->index, target);
    if (ti_load_block(it)) {
        block_iter_seek(&it->data, target);
        ti_skip_forward(it);
    }
}

static void ti_next(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    if (!ti_valid(i))
        return;
    block_iter_next(&it->data);
    if (!block_iter_valid(&it->data))
        ti_skip_forward(it);
}

static void ti_prev(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    if (!ti_valid(i))
        return;
    block_iter_prev(&it->data);
    if (!block_iter_valid(&it->data))
        ti_skip_backward(it);
}

static struct kv_slice ti_key(struct iter *i) { return block_iter_key(&((struct table_iter *)i)->data); }
static struct kv_slice ti_value(struct iter *i) { return block_iter_value(&((struct table_iter *)i)->data); }
static int ti_status(struct iter *i) { return ((struct table_iter *)i)->status; }

static void ti_destroy(struct iter *i)
{
    struct table_iter *it = (struct table_iter *)i;
    ti_drop_block(it);
    block_iter_cleanup(&it->index);
    block_iter_cleanup(&it->data);
    free(it);
}

static const struct iter_ops table_iter_ops = {
    .valid = ti_valid,
    .seek_first = ti_seek_first,
    .seek_last = ti_seek_last,
    .seek = ti_seek,
    .next = ti_next,
    .prev = ti_prev,
    .key = ti_key,
    .value = ti_value,
    .status = ti_status,
    .destroy = ti_destroy,
};

int table_iter_new(struct table *t, struct iter **out)
{
    struct table_iter *it = calloc(1, sizeof *it);
    if (!it)
        return KV_ENOMEM;
    it->base.ops = &table_iter_ops;
    it->t = t;
    block_iter_init(&it->index, &t->index);
    block_iter_init(&it->data, &t->index); /* placeholder until a data block is loaded */
    *out = &it->base;
    return KV_OK;
}
