/* compaction_run.c - merging inputs into new tables: compactions and
 * memtable flushes share one output loop (see compaction.h for the rules). */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/compaction.h"
#include "storage/filename.h"
#include "storage/ikey.h"
#include "storage/merge.h"
#include "storage/rangedel.h"

#define SEQ_NONE UINT64_MAX /* no version of the current key seen yet */

/* The state of one output loop. */
struct build {
    struct compaction_io *io;
    const struct version *v;           /* for "can a deeper level hold this key" */
    int base_level;                    /* first level that may hold older data */
    int output_level;
    uint64_t max_file_bytes;
    struct file_meta *const *gp;       /* grandparents */
    size_t ngp;
    size_t gp_index;
    uint64_t gp_overlap;
    bool gp_seen;
    size_t level_ptr[ENGINE_LEVELS];
    struct rangedel_set tombs;         /* finished at smallest_snapshot */
    bool *tomb_keep;                   /* per tombs.t[i]: written to outputs */
    struct kv_buf lo;                  /* current output covers user keys >= lo ... */
    bool has_lo;
    /* the open output */
    bool out_open;
    uint64_t out_number;
    struct env_file *out_file;
    struct table_builder *out;
    struct kv_buf out_smallest;        /* first and last point keys written */
    struct kv_buf out_largest;
    /* the key being merged */
    struct kv_buf ukey;
    bool has_ukey;
    uint64_t last_seq_for_key;
    struct kv_buf scratch;
    struct version_edit *edit;
};

static void build_free(struct build *b)
{
    if (b->out_open) {
        table_builder_free(b->out);
        if (env_close(b->out_file) != KV_OK)
            log_warn("compaction", "\"closing an abandoned output failed\"");
    }
    rangedel_free(&b->tombs);
    free(b->tomb_keep);
    kv_buf_free(&b->lo);
    kv_buf_free(&b->out_smallest);
    kv_buf_free(&b->out_largest);
    kv_buf_free(&b->ukey);
    kv_buf_free(&b->scratch);
}

/* True if no level >= base_level can hold user key k. Keys arrive in
 * increasing order, so each sorted level is walked once. */
static bool is_base_level_for_key(struct build *b, struct kv_slice k)
{
    for (int l = b->base_level; l < ENGINE_LEVELS; l++) {
        struct file_meta *const *files = b->v->files[l];
        size_t n = b->v->nfiles[l];
        if (l == 0) {
            for (size_t i = 0; i < n; i++)
                if (kv_slice_cmp(k, file_meta_smallest_user(files[i])) >= 0 &&
                    kv_slice_cmp(k, file_meta_largest_user(files[i])) <= 0)
                    return false;
            continue;
        }
        while (b->level_ptr[l] < n) {
            struct file_meta *f = files[b->level_ptr[l]];
            if (kv_slice_cmp(k, file_meta_largest_user(f)) <= 0) {
                if (kv_slice_cmp(k, file_meta_smallest_user(f)) >= 0)
                    return false;
                break;
            }
            b->level_ptr[l]++;
        }
    }
    return true;
}

/* Decides which collected range tombstones must be written out: those
 * some snapshot cannot see through, or that cover a deeper file. */
static int plan_tombstones(struct build *b)
{
    uint64_t smallest = b->io->smallest_snapshot;
    int rc = rangedel_finish(&b->tombs, smallest);
    if (rc != KV_OK)
        return rc;
    b->tomb_keep = calloc(b->tombs.n ? b->tombs.n : 1, sizeof *b->tomb_keep);
    if (!b->tomb_keep)
        return KV_ENOMEM;
    for (size_t i = 0; i < b->tombs.n; i++) {
        const struct table_range_tombstone *t = &b->tombs.t[i];
        bool keep = t->seq > smallest;
        for (int l = b->base_level; !keep && l < ENGINE_LEVELS; l++)
            keep = version_overlap_in_level(b->v, l, &t->begin, &t->end);
        b->tomb_keep[i] = keep;
    }
    return KV_OK;
}

/* Grandparent bookkeeping at each new user key (LevelDB's ShouldStopBefore). */
static bool grandparent_cut(struct build *b, struct kv_slice k)
{
    while (b->gp_index < b->ngp && kv_slice_cmp(file_meta_largest_user(b->gp[b->gp_index]), k) < 0) {
        if (b->gp_seen)
            b->gp_overlap += b->gp[b->gp_index]->bytes;
        b->gp_index++;
    }
    b->gp_seen = true;
    if (b->gp_overlap > COMPACTION_GRANDPARENT_TABLES * b->io->table_file_bytes) {
        b->gp_overlap = 0;
        return true;
    }
    return false;
}

static int open_output(struct build *b)
{
    char path[FILENAME_PATH_BYTES_MAX];
    b->out_number = b->io->new_file_number(b->io->ctx);
    int rc = filename_path(path, b->io->dir, FILENAME_TABLE, b->out_number);
    if (rc == KV_OK)
        rc = env_open(b->io->env, path, ENV_OPEN_TRUNCATE, &b->out_file);
    if (rc != KV_OK)
        return rc;
    if ((rc = table_builder_new(b->out_file, &b->io->table, &b->out)) != KV_OK) {
        if (env_close(b->out_file) != KV_OK)
            log_warn("compaction", "\"closing a failed output failed\"");
        return rc;
    }
    kv_buf_reset(&b->out_smallest);
    kv_buf_reset(&b->out_largest);
    b->out_open = true;
    return KV_OK;
}

/* Keeps the smaller (or larger) of *bound and ikey (user, seq, type). */
static int widen(struct kv_buf *bound, struct kv_buf *scratch, struct kv_slice user, uint64_t seq, bool low)
{
    int rc = kv_buf_reserve(scratch, user.len + IKEY_TRAILER_BYTES);
    if (rc != KV_OK)
        return rc;
    scratch->len = ikey_encode(scratch->data, user.data, user.len, seq, IKEY_TYPE_RANGE_DELETE);
    struct kv_slice k = kv_slice_make(scratch->data, scratch->len);
    int order = bound->len ? ikey_compare(k, kv_slice_make(bound->data, bound->len)) : 0;
    if (!bound->len || (low ? order < 0 : order > 0))
        rc = kv_buf_set(bound, k.data, k.len);
    return rc;
}

/* Adds the kept tombstones' pieces inside [lo, hi) (hi NULL: unbounded) to
 * the output and widens its bounds; *count gets the number of pieces. */
static int add_tombstone_pieces(struct build *b, const struct kv_slice *hi, uint32_t *count, bool dry_run)
{
    struct kv_slice lo = kv_slice_make(b->lo.data, b->lo.len);
    *count = 0;
    for (size_t i = 0; i < b->tombs.n; i++) {
        const struct table_range_tombstone *t = &b->tombs.t[i];
        if (!b->tomb_keep[i])
            continue;
        struct kv_slice pb = t->begin, pe = t->end;
        if (b->has_lo && kv_slice_cmp(pb, lo) < 0)
            pb = lo;
        if (hi && kv_slice_cmp(pe, *hi) > 0)
            pe = *hi;
        if (kv_slice_cmp(pb, pe) >= 0)
            continue;
        (*count)++;
        if (dry_run)
            continue;
        int rc = table_builder_add_range_tombstone(b->out, pb, pe, t->seq);
        if (rc == KV_OK)
            rc = widen(&b->out_smallest, &b->scratch, pb, t->seq, true);
        if (rc == KV_OK)
            rc = widen(&b->out_largest, &b->scratch, pe, KV_SEQ_MAX, false);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

/* Completes the open output, whose keys end before hi (NULL: the last). */
static int finish_output(struct build *b, const struct kv_slice *hi)
{
    uint32_t pieces;
    uint64_t bytes = 0;
    struct file_meta *f = NULL;
    int rc = add_tombstone_pieces(b, hi, &pieces, false);
    if (rc == KV_OK)
        rc = table_builder_finish(b->out, &bytes);
    table_builder_free(b->out);
    if (rc == KV_OK)
        rc = env_sync(b->out_file);
    int crc = env_close(b->out_file);
    b->out_open = false;
    if (rc == KV_OK)
        rc = crc;
    if (rc == KV_OK)
        rc = file_meta_new(b->out_number, bytes, kv_slice_make(b->out_smallest.data, b->out_smallest.len),
                           kv_slice_make(b->out_largest.data, b->out_largest.len), pieces, &f);
    if (rc == KV_OK) {
        /* Reading the table back catches a bad write before it is installed. */
        struct table *t;
        struct cache_handle *h;
        if ((rc = table_cache_get(b->io->tables, f, &t, &h)) == KV_OK)
            table_cache_release(b->io->tables, h);
    }
    if (rc == KV_OK)
        rc = version_edit_add_file(b->edit, b->output_level, f);
    file_meta_unref(f);
    if (rc != KV_OK)
        return rc;
    b->io->bytes_written += bytes;
    b->has_lo = hi != NULL;
    return hi ? kv_buf_set(&b->lo, hi->data, hi->len) : KV_OK;
}

static int add_entry(struct build *b, struct kv_slice k, struct kv_slice value)
{
    int rc = KV_OK;
    if (!b->out_open && (rc = open_output(b)) != KV_OK)
        return rc;
    if (!b->out_smallest.len)
        rc = kv_buf_set(&b->out_smallest, k.data, k.len);
    if (rc == KV_OK)
        rc = kv_buf_set(&b->out_largest, k.data, k.len);
    if (rc == KV_OK)
        rc = table_builder_add(b->out, k, value);
    return rc;
}

/* Applies the drop rules to one entry and writes it if it survives. */
static int process_entry(struct build *b, struct kv_slice k, struct kv_slice value, bool first_of_key)
{
    struct kv_slice ukey = ikey_user(k);
    uint64_t seq = ikey_seq(k);
    enum ikey_type type = ikey_kind(k);
    uint64_t smallest = b->io->smallest_snapshot;
    uint64_t newer = b->last_seq_for_key;
    bool drop = false, to_tombstone = false;
    b->last_seq_for_key = seq;
    if (newer != SEQ_NONE && (newer <= smallest || newer == seq))
        drop = true; /* shadowed by a version every snapshot sees, or a duplicate */
    else if (rangedel_covers(&b->tombs, ukey, seq))
        drop = true;
    else if (type == IKEY_TYPE_DELETE && seq <= smallest && is_base_level_for_key(b, ukey))
        drop = true;
    else if (type == IKEY_TYPE_VALUE && first_of_key && seq <= smallest && b->io->filter &&
             b->io->filter->filter(b->io->filter->arg, b->output_level, ukey, value) == ENGINE_FILTER_DROP) {
        drop = is_base_level_for_key(b, ukey);
        to_tombstone = !drop;
    }
    if (drop)
        return KV_OK;
    if (!to_tombstone)
        return add_entry(b, k, value);
    int rc = kv_buf_reserve(&b->scratch, k.len);
    if (rc != KV_OK)
        return rc;
    b->scratch.len = ikey_encode(b->scratch.data, ukey.data, ukey.len, seq, IKEY_TYPE_DELETE);
    return add_entry(b, kv_slice_make(b->scratch.data, b->scratch.len), kv_slice_make(NULL, 0));
}

/* The output loop over a merged iterator of internal keys. */
static int build_run(struct build *b, struct iter *it)
{
    struct compaction_io *io = b->io;
    int rc = plan_tombstones(b);
    for (iter_seek_first(it); rc == KV_OK && iter_valid(it); iter_next(it)) {
        if (io->stopping && io->stopping(io->ctx)) {
            rc = KV_ECLOSED;
            break;
        }
        if (io->poll)
            io->poll(io->ctx);
        struct kv_slice k = iter_key(it);
        if (k.len < IKEY_TRAILER_BYTES) {
            rc = KV_ECORRUPT;
            break;
        }
        struct kv_slice ukey = ikey_user(k);
        bool first = !b->has_ukey || !kv_slice_eq(ukey, kv_slice_make(b->ukey.data, b->ukey.len));
        if (first) {
            bool cut = b->gp && grandparent_cut(b, ukey);
            if (b->out_open && (cut || table_builder_file_bytes(b->out) >= b->max_file_bytes))
                rc = finish_output(b, &ukey);
            if (rc == KV_OK)
                rc = kv_buf_set(&b->ukey, ukey.data, ukey.len);
            b->has_ukey = true;
            b->last_seq_for_key = SEQ_NONE;
        }
        if (rc == KV_OK)
            rc = process_entry(b, k, iter_value(it), first);
    }
    if (rc == KV_OK)
        rc = iter_status(it);
    if (rc == KV_OK && !b->out_open) {
        uint32_t pieces;
        if ((rc = add_tombstone_pieces(b, NULL, &pieces, true)) == KV_OK && pieces > 0)
            rc = open_output(b); /* only range tombstones remain to be written */
    }
    if (rc == KV_OK && b->out_open)
        rc = finish_output(b, NULL);
    return rc;
}

static void build_init(struct build *b, struct compaction_io *io, const struct version *v, int output_level,
                       int base_level, struct version_edit *edit)
{
    memset(b, 0, sizeof *b);
    b->io = io;
    b->v = v;
    b->output_level = output_level;
    b->base_level = base_level;
    b->max_file_bytes = UINT64_MAX;
    b->edit = edit;
    b->last_seq_for_key = SEQ_NONE;
    rangedel_init(&b->tombs);
}

/* ---- compactions ---- */

/* Collects the range tombstones of the input files into b->tombs. */
static int collect_tombstones(struct build *b, struct compaction_io *io, struct file_meta *const *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (files[i]->range_tombstones == 0)
            continue;
        struct table *t;
        struct cache_handle *h;
        size_t count;
        int rc = table_cache_get(io->tables, files[i], &t, &h);
        if (rc != KV_OK)
            return rc;
        const struct table_range_tombstone *rt = table_range_tombstones(t, &count);
        rc = rangedel_add_all(&b->tombs, rt, count);
        table_cache_release(io->tables, h);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

/* One merged iterator over all inputs: a level iterator per level-0 file
 * (they overlap) and one per sorted level. */
static int input_iter(struct compaction *c, struct compaction_io *io, struct iter **out)
{
    size_t n = (c->level == 0 ? c->ninputs[0] : 1) + 1, k = 0;
    struct iter **children = calloc(n, sizeof *children);
    if (!children)
        return KV_ENOMEM;
    int rc = KV_OK;
    if (c->level == 0) {
        for (size_t i = 0; i < c->ninputs[0] && rc == KV_OK; i++)
            if ((rc = table_cache_level_iter(io->tables, &c->inputs[0][i], 1, &children[k])) == KV_OK)
                k++;
    } else if ((rc = table_cache_level_iter(io->tables, c->inputs[0], c->ninputs[0], &children[k])) == KV_OK) {
        k++;
    }
    if (rc == KV_OK && (rc = table_cache_level_iter(io->tables, c->inputs[1], c->ninputs[1], &children[k])) == KV_OK)
        k++;
    if (rc == KV_OK)
        rc = merge_iter_new(children, k, out);
    else
        for (size_t i = 0; i < k; i++)
            iter_destroy(children[i]);
    free(children);
    return rc;
}

int compaction_run(struct compaction *c, struct compaction_io *io)
{
    struct build b;
    struct iter *it = NULL;
    build_init(&b, io, c->version, c->level + 1, c->level + 2, &c->edit);
    b.max_file_bytes = io->table_file_bytes;
    b.gp = c->grandparents;
    b.ngp = c->ngrandparents;
    int rc = KV_OK;
    for (int w = 0; w < 2 && rc == KV_OK; w++) {
        io->bytes_read += version_files_bytes(c->inputs[w], c->ninputs[w]);
        rc = collect_tombstones(&b, io, c->inputs[w], c->ninputs[w]);
    }
    if (rc == KV_OK)
        rc = input_iter(c, io, &it);
    if (rc == KV_OK)
        rc = build_run(&b, it);
    iter_destroy(it);
    for (int w = 0; w < 2 && rc == KV_OK; w++)
        for (size_t i = 0; i < c->ninputs[w] && rc == KV_OK; i++)
            rc = version_edit_delete_file(&c->edit, c->level + w, c->inputs[w][i]->number);
    build_free(&b);
    if (rc != KV_OK && rc != KV_ECLOSED)
        log_error("compaction", "\"compaction failed\" level=%d status=%s", c->level, kv_status_str(rc));
    return rc;
}

/* ---- flushes ---- */

/* The user-key range of a memtable's entries and tombstones; false if empty. */
static bool flush_range(struct iter *it, const struct table_range_tombstone *t, size_t nt, struct kv_buf *lo,
                        struct kv_buf *hi, int *rc)
{
    bool any = false;
    *rc = KV_OK;
    iter_seek_first(it);
    if (iter_valid(it)) {
        struct kv_slice u = ikey_user(iter_key(it));
        *rc = kv_buf_set(lo, u.data, u.len);
        iter_seek_last(it);
        if (*rc == KV_OK && iter_valid(it)) {
            u = ikey_user(iter_key(it));
            *rc = kv_buf_set(hi, u.data, u.len);
        }
        any = true;
    }
    for (size_t i = 0; i < nt && *rc == KV_OK; i++) {
        if (!any || kv_slice_cmp(t[i].begin, kv_slice_make(lo->data, lo->len)) < 0)
            *rc = kv_buf_set(lo, t[i].begin.data, t[i].begin.len);
        if (*rc == KV_OK && (!any || kv_slice_cmp(t[i].end, kv_slice_make(hi->data, hi->len)) > 0))
            *rc = kv_buf_set(hi, t[i].end.data, t[i].end.len);
        any = true;
    }
    if (*rc == KV_OK)
        *rc = iter_status(it);
    return any;
}

/* Level 0, or deeper while nothing there overlaps and the grandparent
 * overlap stays small. */
static int flush_level(const struct version *v, struct kv_slice lo, struct kv_slice hi, uint64_t table_file_bytes)
{
    int level = 0;
    if (version_overlap_in_level(v, 0, &lo, &hi))
        return 0;
    while (level < COMPACTION_FLUSH_LEVEL_MAX) {
        if (version_overlap_in_level(v, level + 1, &lo, &hi))
            break;
        if (level + 2 < ENGINE_LEVELS) {
            struct file_meta **gp;
            size_t n;
            if (version_overlapping_files(v, level + 2, &lo, &hi, &gp, &n) != KV_OK)
                break;
            uint64_t bytes = version_files_bytes(gp, n);
            free(gp);
            if (bytes > COMPACTION_GRANDPARENT_TABLES * table_file_bytes)
                break;
        }
        level++;
    }
    return level;
}

int compaction_flush(struct compaction_io *io, struct version *base, struct iter *it,
                     const struct table_range_tombstone *t, size_t nt, struct version_edit *edit, int *level_out)
{
    struct kv_buf lo = { 0 }, hi = { 0 };
    struct build b;
    int rc, level = 0;
    bool any = flush_range(it, t, nt, &lo, &hi, &rc);
    if (rc == KV_OK && any)
        level = flush_level(base, kv_slice_make(lo.data, lo.len), kv_slice_make(hi.data, hi.len),
                            io->table_file_bytes);
    build_init(&b, io, base, level, level, edit);
    if (rc == KV_OK && any)
        rc = rangedel_add_all(&b.tombs, t, nt);
    if (rc == KV_OK && any)
        rc = build_run(&b, it);
    build_free(&b);
    iter_destroy(it);
    kv_buf_free(&lo);
    kv_buf_free(&hi);
    if (rc == KV_OK)
        *level_out = level;
    else if (rc != KV_ECLOSED)
        log_error("compaction", "\"flush failed\" status=%s", kv_status_str(rc));
    return rc;
}
