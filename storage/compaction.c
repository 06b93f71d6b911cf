/* compaction.c - choosing compactions (compaction.h); running them is in
 * compaction_run.c. */
#include "storage/compaction.h"

#include <stdlib.h>
#include <string.h>

#include "storage/ikey.h"

static struct compaction *compaction_new(struct version_set *vs, int level, uint64_t table_file_bytes)
{
    struct compaction *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->level = level;
    c->version = version_set_ref_current(vs);
    c->table_file_bytes = table_file_bytes;
    version_edit_init(&c->edit);
    return c;
}

void compaction_free(struct compaction *c)
{
    if (!c)
        return;
    version_unref_locked(c->version);
    free(c->inputs[0]);
    free(c->inputs[1]);
    free(c->grandparents);
    version_edit_free(&c->edit);
    free(c);
}

/* The user-key range covering files (NULL-free: n >= 1). */
static void key_range(struct file_meta *const *files, size_t n, struct kv_slice *lo, struct kv_slice *hi)
{
    *lo = file_meta_smallest_user(files[0]);
    *hi = file_meta_largest_user(files[0]);
    for (size_t i = 1; i < n; i++) {
        struct kv_slice s = file_meta_smallest_user(files[i]), l = file_meta_largest_user(files[i]);
        if (kv_slice_cmp(s, *lo) < 0)
            *lo = s;
        if (kv_slice_cmp(l, *hi) > 0)
            *hi = l;
    }
}

/* The largest internal key of files. */
static struct kv_slice largest_key(struct file_meta *const *files, size_t n)
{
    struct kv_slice best = files[0]->largest;
    for (size_t i = 1; i < n; i++)
        if (ikey_compare(files[i]->largest, best) > 0)
            best = files[i]->largest;
    return best;
}

/* Widens inputs[0] to every level-n file in the whole range when that pulls
 * in no new level n+1 file and stays under COMPACTION_EXPAND_TABLES. */
static int try_expand(struct compaction *c, struct kv_slice all_lo, struct kv_slice all_hi)
{
    const struct version *v = c->version;
    struct file_meta **e0 = NULL, **e1 = NULL;
    size_t n0 = 0, n1 = 0;
    int rc = version_overlapping_files(v, c->level, &all_lo, &all_hi, &e0, &n0);
    if (rc != KV_OK || n0 <= c->ninputs[0])
        goto done;
    uint64_t bytes = version_files_bytes(e0, n0) + version_files_bytes(c->inputs[1], c->ninputs[1]);
    if (bytes >= COMPACTION_EXPAND_TABLES * c->table_file_bytes)
        goto done;
    struct kv_slice lo, hi;
    key_range(e0, n0, &lo, &hi);
    if ((rc = version_overlapping_files(v, c->level + 1, &lo, &hi, &e1, &n1)) != KV_OK)
        goto done;
    if (n1 == c->ninputs[1]) {
        free(c->inputs[0]);
        c->inputs[0] = e0;
        c->ninputs[0] = n0;
        e0 = NULL;
    }
done:
    free(e0);
    free(e1);
    return rc;
}

/* From inputs[0]: the level+1 inputs, widening, grandparents, pointer. */
static int setup_other_inputs(struct compaction *c)
{
    const struct version *v = c->version;
    struct kv_slice lo, hi, all_lo, all_hi;
    key_range(c->inputs[0], c->ninputs[0], &lo, &hi);
    int rc = version_overlapping_files(v, c->level + 1, &lo, &hi, &c->inputs[1], &c->ninputs[1]);
    if (rc != KV_OK)
        return rc;
    all_lo = lo;
    all_hi = hi;
    if (c->ninputs[1] > 0) {
        struct kv_slice lo1, hi1;
        key_range(c->inputs[1], c->ninputs[1], &lo1, &hi1);
        if (kv_slice_cmp(lo1, all_lo) < 0)
            all_lo = lo1;
        if (kv_slice_cmp(hi1, all_hi) > 0)
            all_hi = hi1;
        if ((rc = try_expand(c, all_lo, all_hi)) != KV_OK)
            return rc;
    }
    if (c->level + 2 < ENGINE_LEVELS &&
        (rc = version_overlapping_files(v, c->level + 2, &all_lo, &all_hi, &c->grandparents,
                                        &c->ngrandparents)) != KV_OK)
        return rc;
    return version_edit_set_compact_pointer(&c->edit, c->level, largest_key(c->inputs[0], c->ninputs[0]));
}

/* The first file of `level` after its compaction pointer, wrapping. */
static struct file_meta *pick_round_robin(struct version_set *vs, const struct version *v, int level)
{
    const struct kv_buf *ptr = &vs->compact_pointer[level];
    struct file_meta *const *files = v->files[level];
    size_t n = v->nfiles[level];
    if (ptr->len >= IKEY_TRAILER_BYTES) {
        struct kv_slice p = kv_slice_make(ptr->data, ptr->len);
        if (level > 0) {
            size_t i = version_find_file(files, n, p);
            while (i < n && ikey_compare(files[i]->largest, p) <= 0)
                i++;
            if (i < n)
                return files[i];
        } else {
            /* Level 0 is not sorted by key: take the lowest largest key past the pointer. */
            struct file_meta *best = NULL;
            for (size_t i = 0; i < n; i++)
                if (ikey_compare(files[i]->largest, p) > 0 &&
                    (!best || ikey_compare(files[i]->largest, best->largest) < 0))
                    best = files[i];
            if (best)
                return best;
        }
    }
    if (level > 0)
        return files[0];
    struct file_meta *best = files[0];
    for (size_t i = 1; i < n; i++)
        if (ikey_compare(files[i]->largest, best->largest) < 0)
            best = files[i];
    return best;
}

struct compaction *compaction_pick(struct version_set *vs, uint64_t table_file_bytes)
{
    struct version *v = vs->current;
    if (v->compaction_score < 1 || v->nfiles[v->compaction_level] == 0)
        return NULL;
    int level = v->compaction_level;
    struct compaction *c = compaction_new(vs, level, table_file_bytes);
    if (!c)
        return NULL;
    struct file_meta *first = pick_round_robin(vs, v, level);
    int rc;
    if (level == 0) {
        struct kv_slice lo = file_meta_smallest_user(first), hi = file_meta_largest_user(first);
        rc = version_overlapping_files(v, 0, &lo, &hi, &c->inputs[0], &c->ninputs[0]);
    } else {
        c->inputs[0] = malloc(sizeof *c->inputs[0]);
        rc = c->inputs[0] ? KV_OK : KV_ENOMEM;
        if (rc == KV_OK) {
            c->inputs[0][0] = first;
            c->ninputs[0] = 1;
        }
    }
    if (rc == KV_OK)
        rc = setup_other_inputs(c);
    if (rc != KV_OK) {
        compaction_free(c);
        return NULL;
    }
    return c;
}

struct compaction *compaction_pick_range(struct version_set *vs, int level, const struct kv_slice *begin,
                                         const struct kv_slice *end, uint64_t table_file_bytes)
{
    if (level + 1 >= ENGINE_LEVELS)
        return NULL;
    struct compaction *c = compaction_new(vs, level, table_file_bytes);
    if (!c)
        return NULL;
    int rc = version_overlapping_files(c->version, level, begin, end, &c->inputs[0], &c->ninputs[0]);
    if (rc != KV_OK || c->ninputs[0] == 0) {
        compaction_free(c);
        return NULL;
    }
    if (level > 0) {
        /* Bound the work of one step; the caller continues past it. */
        uint64_t total = 0;
        for (size_t i = 0; i < c->ninputs[0]; i++) {
            total += c->inputs[0][i]->bytes;
            if (total >= COMPACTION_EXPAND_TABLES * table_file_bytes) {
                c->ninputs[0] = i + 1;
                break;
            }
        }
    }
    if (setup_other_inputs(c) != KV_OK) {
        compaction_free(c);
        return NULL;
    }
    return c;
}

bool compaction_is_trivial_move(const struct compaction *c)
{
    return c->ninputs[0] == 1 && c->ninputs[1] == 0 &&
           version_files_bytes(c->grandparents, c->ngrandparents) <=
               COMPACTION_GRANDPARENT_TABLES * c->table_file_bytes;
}

int compaction_apply_move(struct compaction *c)
{
    struct file_meta *f = c->inputs[0][0];
    int rc = version_edit_delete_file(&c->edit, c->level, f->number);
    return rc == KV_OK ? version_edit_add_file(&c->edit, c->level + 1, f) : rc;
}
