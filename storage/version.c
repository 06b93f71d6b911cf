/* version.c - versions, their construction from edits, and queries; the
 * manifest side of the version set is in manifest.c. See version.h. */
#include "storage/version.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/ikey.h"
#include "storage/version_internal.h"

int version_set_new(const struct version_set_options *o, pthread_mutex_t *mu, struct version_set **out)
{
    struct version_set *vs = calloc(1, sizeof *vs);
    if (!vs)
        return KV_ENOMEM;
    vs->dir = strdup(o->dir);
    if (!vs->dir) {
        free(vs);
        return KV_ENOMEM;
    }
    vs->env = o->env;
    vs->mu = mu;
    vs->level1_bytes = o->level1_bytes;
    vs->level0_compaction_trigger = o->level0_compaction_trigger > 0 ? o->level0_compaction_trigger : 1;
    vs->live.next = vs->live.prev = &vs->live;
    vs->next_file_number = 2;
    struct version *v;
    int rc = version_new(vs, &v);
    if (rc != KV_OK) {
        free(vs->dir);
        free(vs);
        return rc;
    }
    version_finalize(v);
    vs->current = v;
    *out = vs;
    return KV_OK;
}

void version_set_free(struct version_set *vs)
{
    if (!vs)
        return;
    if (vs->current)
        version_unref_locked(vs->current);
    if (vs->live.next != &vs->live)
        log_error("version", "\"versions still referenced at close\"");
    if (vs->manifest && wal_writer_close(vs->manifest) != KV_OK)
        log_warn("version", "\"closing the manifest failed\"");
    for (int i = 0; i < ENGINE_LEVELS; i++)
        kv_buf_free(&vs->compact_pointer[i]);
    free(vs->dir);
    free(vs);
}

void version_set_mark_file_number_used(struct version_set *vs, uint64_t number)
{
    if (vs->next_file_number <= number)
        vs->next_file_number = number + 1;
}

uint64_t version_set_level_bytes_max(const struct version_set *vs, int level)
{
    uint64_t bytes = vs->level1_bytes;
    for (int i = 1; i < level; i++)
        bytes = bytes > UINT64_MAX / 10 ? UINT64_MAX : bytes * 10;
    return bytes;
}

/* ---- versions and references ---- */

int version_new(struct version_set *vs, struct version **out)
{
    struct version *v = calloc(1, sizeof *v);
    if (!v)
        return KV_ENOMEM;
    v->vs = vs;
    atomic_init(&v->refs, 1);
    v->next = &vs->live;
    v->prev = vs->live.prev;
    v->prev->next = v;
    v->next->prev = v;
    *out = v;
    return KV_OK;
}

static void version_destroy(struct version *v)
{
    v->prev->next = v->next;
    v->next->prev = v->prev;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++)
            file_meta_unref(v->files[l][i]);
        free(v->files[l]);
    }
    free(v);
}

struct version *version_set_ref_current(struct version_set *vs)
{
    version_ref(vs->current);
    return vs->current;
}

void version_ref(struct version *v) { atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed); }

void version_unref(struct version *v)
{
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_t *mu = v->vs->mu;
        pthread_mutex_lock(mu);
        version_destroy(v);
        pthread_mutex_unlock(mu);
    }
}

void version_unref_locked(struct version *v)
{
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
        version_destroy(v);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int version_set_live_files(struct version_set *vs, uint64_t **numbers, size_t *count)
{
    size_t n = 0, k = 0;
    for (struct version *v = vs->live.next; v != &vs->live; v = v->next)
        for (int l = 0; l < ENGINE_LEVELS; l++)
            n += v->nfiles[l];
    uint64_t *arr = malloc((n ? n : 1) * sizeof *arr);
    if (!arr)
        return KV_ENOMEM;
    for (struct version *v = vs->live.next; v != &vs->live; v = v->next)
        for (int l = 0; l < ENGINE_LEVELS; l++)
            for (size_t i = 0; i < v->nfiles[l]; i++)
                arr[k++] = v->files[l][i]->number;
    qsort(arr, n, sizeof *arr, cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || arr[u - 1] != arr[i])
            arr[u++] = arr[i];
    *numbers = arr;
    *count = u;
    return KV_OK;
}

/* ---- building a version from a base and edits ---- */

static int builder_push(struct version_builder *b, int level, struct file_meta *f)
{
    if (b->n[level] == b->cap[level]) {
        size_t cap = b->cap[level] ? b->cap[level] * 2 : 16;
        struct file_meta **p = realloc(b->files[level], cap * sizeof *p);
        if (!p)
            return KV_ENOMEM;
        b->files[level] = p;
        b->cap[level] = cap;
    }
    file_meta_ref(f);
    b->files[level][b->n[level]++] = f;
    return KV_OK;
}

int version_builder_init(struct version_builder *b, const struct version *base)
{
    memset(b, 0, sizeof *b);
    for (int l = 0; l < ENGINE_LEVELS; l++)
        for (size_t i = 0; i < base->nfiles[l]; i++)
            if (builder_push(b, l, base->files[l][i]) != KV_OK) {
                version_builder_free(b);
                return KV_ENOMEM;
            }
    return KV_OK;
}

void version_builder_free(struct version_builder *b)
{
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        for (size_t i = 0; i < b->n[l]; i++)
            file_meta_unref(b->files[l][i]);
        free(b->files[l]);
    }
    memset(b, 0, sizeof *b);
}

/* Deletions first, then additions, as one edit both retires a
 * compaction's inputs and adds its outputs. KV_ECORRUPT if the edit
 * deletes a file the level does not hold. */
int version_builder_apply(struct version_builder *b, const struct version_edit *e)
{
    for (size_t d = 0; d < e->ndeleted; d++) {
        int l = e->deleted[d].level;
        size_t i = 0;
        while (i < b->n[l] && b->files[l][i]->number != e->deleted[d].number)
            i++;
        if (i == b->n[l]) {
            log_error("version", "\"edit deletes a missing file\" level=%d file=%llu", l,
                      (unsigned long long)e->deleted[d].number);
            return KV_ECORRUPT;
        }
        file_meta_unref(b->files[l][i]);
        b->files[l][i] = b->files[l][--b->n[l]];
    }
    for (size_t a = 0; a < e->nadded; a++) {
        int rc = builder_push(b, e->added[a].level, e->added[a].f);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

static int cmp_newest_first(const void *a, const void *b)
{
    uint64_t x = (*(struct file_meta *const *)a)->number, y = (*(struct file_meta *const *)b)->number;
    return x > y ? -1 : x < y;
}

static int cmp_smallest(const void *a, const void *b)
{
    return ikey_compare((*(struct file_meta *const *)a)->smallest, (*(struct file_meta *const *)b)->smallest);
}

/* Sorts every level, then checks that levels >= 1 do not overlap and that
 * no file number appears twice. */
static int builder_sort_and_check(struct version_builder *b)
{
    size_t total = 0;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        if (b->n[l] > 1)
            qsort(b->files[l], b->n[l], sizeof *b->files[l], l == 0 ? cmp_newest_first : cmp_smallest);
        for (size_t i = 1; l > 0 && i < b->n[l]; i++)
            if (ikey_compare(b->files[l][i - 1]->largest, b->files[l][i]->smallest) >= 0) {
                log_error("version", "\"overlapping files in a level\" level=%d file=%llu", l,
                          (unsigned long long)b->files[l][i]->number);
                return KV_ECORRUPT;
            }
        total += b->n[l];
    }
    uint64_t *nums = malloc((total ? total : 1) * sizeof *nums);
    if (!nums)
        return KV_ENOMEM;
    size_t k = 0;
    for (int l = 0; l < ENGINE_LEVELS; l++)
        for (size_t i = 0; i < b->n[l]; i++)
            nums[k++] = b->files[l][i]->number;
    qsort(nums, total, sizeof *nums, cmp_u64);
    int rc = KV_OK;
    for (size_t i = 1; i < total && rc == KV_OK; i++)
        if (nums[i] == nums[i - 1]) {
            log_error("version", "\"file listed twice\" file=%llu", (unsigned long long)nums[i]);
            rc = KV_ECORRUPT;
        }
    free(nums);
    return rc;
}

/* Moves the builder's files into a new version (the builder is emptied). mu held. */
int version_builder_finish(struct version_builder *b, struct version_set *vs, struct version **out)
{
    int rc = builder_sort_and_check(b);
    if (rc != KV_OK)
        return rc;
    struct version *v;
    if ((rc = version_new(vs, &v)) != KV_OK)
        return rc;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        v->files[l] = b->files[l];
        v->nfiles[l] = b->n[l];
        b->files[l] = NULL;
        b->n[l] = b->cap[l] = 0;
    }
    version_finalize(v);
    *out = v;
    return KV_OK;
}

void version_finalize(struct version *v)
{
    const struct version_set *vs = v->vs;
    v->compaction_level = 0;
    v->compaction_score = 0;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        v->level_bytes[l] = version_files_bytes(v->files[l], v->nfiles[l]);
        double score;
        if (l == ENGINE_LEVELS - 1)
            score = 0; /* nothing below the last level to compact into */
        else if (l == 0)
            score = (double)v->nfiles[0] / (double)vs->level0_compaction_trigger;
        else
            score = (double)v->level_bytes[l] / (double)version_set_level_bytes_max(vs, l);
        if (score > v->compaction_score) {
            v->compaction_score = score;
            v->compaction_level = l;
        }
    }
}

/* ---- queries ---- */

uint64_t version_files_bytes(struct file_meta *const *files, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += files[i]->bytes;
    return sum;
}

size_t version_find_file(struct file_meta *const *files, size_t n, struct kv_slice ikey)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ikey_compare(files[mid]->largest, ikey) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First file whose largest user key >= user (conservative about sentinels). */
static size_t find_file_user(struct file_meta *const *files, size_t n, struct kv_slice user)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kv_slice_cmp(file_meta_largest_user(files[mid]), user) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t version_find_file_for_user_key(struct file_meta *const *files, size_t n, struct kv_slice k)
{
    size_t i = find_file_user(files, n, k);
    if (i < n && ikey_trailer(files[i]->largest) == ikey_pack(KV_SEQ_MAX, IKEY_TYPE_RANGE_DELETE) &&
        kv_slice_eq(file_meta_largest_user(files[i]), k))
        i++;
    if (i < n && kv_slice_cmp(k, file_meta_smallest_user(files[i])) < 0)
        i = n;
    return i;
}

static bool file_overlaps(const struct file_meta *f, const struct kv_slice *begin, const struct kv_slice *end)
{
    if (begin && kv_slice_cmp(file_meta_largest_user(f), *begin) < 0)
        return false;
    if (end && kv_slice_cmp(file_meta_smallest_user(f), *end) > 0)
        return false;
    return true;
}

bool version_overlap_in_level(const struct version *v, int level, const struct kv_slice *begin,
                              const struct kv_slice *end)
{
    struct file_meta *const *files = v->files[level];
    size_t n = v->nfiles[level];
    if (level == 0) {
        for (size_t i = 0; i < n; i++)
            if (file_overlaps(files[i], begin, end))
                return true;
        return false;
    }
    size_t i = begin ? find_file_user(files, n, *begin) : 0;
    return i < n && file_overlaps(files[i], begin, end);
}

int version_overlapping_files(const struct version *v, int level, const struct kv_slice *begin,
                              const struct kv_slice *end, struct file_meta ***out, size_t *count)
{
    struct file_meta *const *files = v->files[level];
    size_t n = v->nfiles[level], k = 0;
    struct file_meta **res = malloc((n ? n : 1) * sizeof *res);
    if (!res)
        return KV_ENOMEM;
    struct kv_slice b, e;
    const struct kv_slice *bp = NULL, *ep = NULL;
    if (begin) {
        b = *begin;
        bp = &b;
    }
    if (end) {
        e = *end;
        ep = &e;
    }
    for (size_t i = 0; i < n; i++) {
        struct file_meta *f = files[i];
        if (!file_overlaps(f, bp, ep))
            continue;
        res[k++] = f;
        if (level != 0)
            continue;
        /* Level-0 files overlap each other: widen the range to this file
         * and start over so every file touching the new range is taken. */
        if (bp && kv_slice_cmp(file_meta_smallest_user(f), b) < 0) {
            b = file_meta_smallest_user(f);
            k = 0;
            i = (size_t)-1;
        } else if (ep && kv_slice_cmp(file_meta_largest_user(f), e) > 0) {
            e = file_meta_largest_user(f);
            k = 0;
            i = (size_t)-1;
        }
    }
    *out = res;
    *count = k;
    return KV_OK;
}
