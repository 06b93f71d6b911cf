/* dvv.c - see dvv.h. */
#include "coordinator/dvv.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"

/* Grows an array of `elem`-byte items to hold `need`; doubling, so a
 * struct dvv reused across requests stops allocating after warm-up. */
static int reserve(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return KV_OK;
    uint32_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    *cap = n;
    return KV_OK;
}

static int reserve_entries(struct dvv *d, uint32_t need)
{
    return reserve((void **)&d->entries, &d->entries_cap, need, sizeof d->entries[0]);
}

static int reserve_values(struct dvv *d, uint32_t need)
{
    return reserve((void **)&d->values, &d->values_cap, need, sizeof d->values[0]);
}

static int reserve_anon(struct dvv *d, uint32_t need)
{
    return reserve((void **)&d->anon, &d->anon_cap, need, sizeof d->anon[0]);
}

void dvv_init(struct dvv *d) { memset(d, 0, sizeof *d); }

void dvv_clear(struct dvv *d)
{
    d->nentries = 0;
    d->nvalues = 0;
    d->nanon = 0;
}

void dvv_free(struct dvv *d)
{
    free(d->entries);
    free(d->values);
    free(d->anon);
    dvv_init(d);
}

int dvv_copy(const struct dvv *src, struct dvv *out)
{
    assert(src != out);
    dvv_clear(out);
    int rc = reserve_entries(out, src->nentries);
    if (rc == KV_OK)
        rc = reserve_values(out, src->nvalues);
    if (rc == KV_OK)
        rc = reserve_anon(out, src->nanon);
    if (rc != KV_OK)
        return rc;
    if (src->nentries)
        memcpy(out->entries, src->entries, src->nentries * sizeof src->entries[0]);
    if (src->nvalues)
        memcpy(out->values, src->values, src->nvalues * sizeof src->values[0]);
    if (src->nanon)
        memcpy(out->anon, src->anon, src->nanon * sizeof src->anon[0]);
    out->nentries = src->nentries;
    out->nvalues = src->nvalues;
    out->nanon = src->nanon;
    return KV_OK;
}

void dvv_value_dot(const struct dvv *d, uint32_t i, uint64_t *id_out, uint64_t *counter_out)
{
    assert(i < d->nvalues);
    uint32_t lo = 0, hi = d->nentries; /* entries are laid out in value order */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->entries[mid].first <= i)
            lo = mid;
        else
            hi = mid;
    }
    /* Entries without values share `first` with the next one; skip to the owner. */
    while (d->entries[lo].nvalues == 0 || i >= d->entries[lo].first + d->entries[lo].nvalues)
        lo++;
    const struct dvv_entry *e = &d->entries[lo];
    *id_out = e->id;
    *counter_out = e->counter - (i - e->first);
}

static int slice_ptr_cmp(const void *a, const void *b)
{
    return kv_slice_cmp(*(const struct kv_slice *)a, *(const struct kv_slice *)b);
}

int dvv_new(const struct kv_slice *vals, uint32_t nvals, struct dvv *out)
{
    dvv_clear(out);
    if (nvals > DVV_VALUES_MAX)
        return KV_ETOOBIG;
    int rc = reserve_anon(out, nvals);
    if (rc != KV_OK)
        return rc;
    if (nvals)
        memcpy(out->anon, vals, nvals * sizeof vals[0]);
    qsort(out->anon, nvals, sizeof out->anon[0], slice_ptr_cmp);
    uint32_t n = 0;
    for (uint32_t i = 0; i < nvals; i++)
        if (n == 0 || !kv_slice_eq(out->anon[n - 1], out->anon[i]))
            out->anon[n++] = out->anon[i];
    out->nanon = n;
    return KV_OK;
}

/* ---- causal order ---- */

bool dvv_descends(const struct dvv *a, const struct dvv *b)
{
    uint32_t i = 0;
    for (uint32_t j = 0; j < b->nentries; j++) {
        while (i < a->nentries && a->entries[i].id < b->entries[j].id)
            i++;
        if (i == a->nentries || a->entries[i].id != b->entries[j].id ||
            a->entries[i].counter < b->entries[j].counter)
            return false;
    }
    return true;
}

static bool same_counters(const struct dvv *a, const struct dvv *b)
{
    if (a->nentries != b->nentries)
        return false;
    for (uint32_t i = 0; i < a->nentries; i++)
        if (a->entries[i].id != b->entries[i].id || a->entries[i].counter != b->entries[i].counter)
            return false;
    return true;
}

bool dvv_less(const struct dvv *a, const struct dvv *b)
{
    return dvv_descends(b, a) && !same_counters(a, b);
}

bool dvv_equal(const struct dvv *a, const struct dvv *b)
{
    if (!same_counters(a, b))
        return false;
    for (uint32_t i = 0; i < a->nentries; i++)
        if (a->entries[i].nvalues != b->entries[i].nvalues)
            return false;
    return true;
}

/* ---- sync and update ---- */

/* Appends an entry to out; values are appended by the caller right after. */
static int push_entry(struct dvv *out, uint64_t id, uint64_t counter)
{
    if (out->nentries >= DVV_ENTRIES_MAX)
        return KV_ETOOBIG;
    int rc = reserve_entries(out, out->nentries + 1);
    if (rc != KV_OK)
        return rc;
    struct dvv_entry *e = &out->entries[out->nentries++];
    e->id = id;
    e->counter = counter;
    e->first = out->nvalues;
    e->nvalues = 0;
    return KV_OK;
}

static int push_values(struct dvv *out, const struct kv_slice *vals, uint32_t n, uint32_t values_max)
{
    if (n == 0)
        return KV_OK;
    if (n > values_max || out->nvalues > values_max - n)
        return KV_ETOOBIG;
    int rc = reserve_values(out, out->nvalues + n);
    if (rc != KV_OK)
        return rc;
    memcpy(out->values + out->nvalues, vals, n * sizeof vals[0]);
    out->nvalues += n;
    out->entries[out->nentries - 1].nvalues += n;
    return KV_OK;
}

/* A pending event of actor `id` with new values, folded into the merge. */
struct event {
    bool pending;
    uint64_t id;
    const struct kv_slice *vals;
    uint32_t n;
};

/* Emits one entry of the result: counter and the values to keep (from the
 * side with the higher counter; see merge rule below), plus the event's
 * values first when the entry is the event's actor. */
static int emit(struct dvv *out, uint64_t id, uint64_t counter, const struct kv_slice *kept,
                uint32_t nkept, struct event *ev, uint32_t values_max)
{
    uint32_t nnew = 0;
    const struct kv_slice *newv = NULL;
    if (ev->pending && ev->id == id) {
        if (counter > UINT64_MAX - ev->n)
            return KV_ETOOBIG;
        counter += ev->n;
        newv = ev->vals;
        nnew = ev->n;
        ev->pending = false;
    }
    int rc = push_entry(out, id, counter);
    if (rc == KV_OK)
        rc = push_values(out, newv, nnew, values_max);
    if (rc == KV_OK)
        rc = push_values(out, kept, nkept, values_max);
    return rc;
}

/*
 * Merge rule for an actor present on both sides with counters n1 >= n2
 * and value lists of l1, l2: side 1's values have dots n1 .. n1-l1+1;
 * side 2 has seen every dot <= n2 and still holds those > n2-l2, so a dot
 * of side 1 survives iff it is > n2 - l2: the first min(l1, n1-n2+l2)
 * values of side 1. Side 2's survivors are a subset of those (equal dots
 * carry equal values), so the result takes them all from side 1.
 */
static int merge_both(struct dvv *out, const struct dvv *a, const struct dvv_entry *ea,
                      bool a_values, const struct dvv *b, const struct dvv_entry *eb,
                      struct event *ev, uint32_t values_max)
{
    uint64_t n1 = ea->counter, n2 = eb->counter;
    uint64_t l1 = a_values ? ea->nvalues : 0, l2 = eb->nvalues;
    /* counter >= nvalues holds in every clock, so neither subtraction wraps. */
    if (n1 >= n2) {
        uint64_t keep = n1 - (n2 - l2) < l1 ? n1 - (n2 - l2) : l1;
        const struct kv_slice *va = a->values ? a->values + ea->first : NULL; /* NULL: no values */
        return emit(out, ea->id, n1, va, (uint32_t)keep, ev, values_max);
    }
    uint64_t keep = n2 - (n1 - l1) < l2 ? n2 - (n1 - l1) : l2;
    const struct kv_slice *vb = b->values ? b->values + eb->first : NULL;
    return emit(out, eb->id, n2, vb, (uint32_t)keep, ev, values_max);
}

/* Union of two sorted, unique lists of anonymous values. */
static int anon_union(const struct kv_slice *x, uint32_t nx, const struct kv_slice *y,
                      uint32_t ny, struct dvv *out)
{
    int rc = reserve_anon(out, nx + ny);
    if (rc != KV_OK)
        return rc;
    uint32_t i = 0, j = 0, n = 0;
    while (i < nx || j < ny) {
        int c = i == nx ? 1 : j == ny ? -1 : kv_slice_cmp(x[i], y[j]);
        if (c <= 0)
            out->anon[n++] = x[i++];
        else
            out->anon[n++] = y[j++];
        if (c == 0)
            j++;
    }
    out->nanon = n;
    return KV_OK;
}

/* Riak's rule: the anonymous values of the causally newer side win;
 * when neither is older, keep both. */
static int sync_anon(const struct dvv *a, bool a_values, const struct dvv *b, struct dvv *out,
                     uint32_t values_max)
{
    uint32_t na = a_values ? a->nanon : 0;
    int rc;
    if (dvv_less(a, b))
        rc = anon_union(NULL, 0, b->anon, b->nanon, out);
    else if (dvv_less(b, a))
        rc = anon_union(a->anon, na, NULL, 0, out);
    else
        rc = anon_union(a->anon, na, b->anon, b->nanon, out);
    if (rc == KV_OK && dvv_size(out) > values_max)
        rc = KV_ETOOBIG;
    return rc;
}

static int sync_core(const struct dvv *a, bool a_values, const struct dvv *b, struct event *ev,
                     uint32_t values_max, struct dvv *out)
{
    assert(out != a && out != b);
    dvv_clear(out);
    if (values_max > DVV_VALUES_MAX)
        values_max = DVV_VALUES_MAX;
    uint32_t i = 0, j = 0;
    int rc = KV_OK;
    while (rc == KV_OK && (i < a->nentries || j < b->nentries)) {
        const struct dvv_entry *ea = i < a->nentries ? &a->entries[i] : NULL;
        const struct dvv_entry *eb = j < b->nentries ? &b->entries[j] : NULL;
        uint64_t id = !eb || (ea && ea->id < eb->id) ? ea->id : eb->id;
        if (ev->pending && ev->id < id) {
            rc = emit(out, ev->id, 0, NULL, 0, ev, values_max);
            continue;
        }
        if (ea && eb && ea->id == eb->id) {
            rc = merge_both(out, a, ea, a_values, b, eb, ev, values_max);
            i++, j++;
        } else if (ea && ea->id == id) {
            rc = emit(out, id, ea->counter, a->values ? a->values + ea->first : NULL,
                      a_values ? ea->nvalues : 0, ev, values_max);
            i++;
        } else {
            rc = emit(out, id, eb->counter, b->values ? b->values + eb->first : NULL, eb->nvalues, ev,
                      values_max);
            j++;
        }
    }
    if (rc == KV_OK && ev->pending)
        rc = emit(out, ev->id, 0, NULL, 0, ev, values_max);
    if (rc == KV_OK)
        rc = sync_anon(a, a_values, b, out, values_max);
    return rc;
}

int dvv_sync(const struct dvv *a, const struct dvv *b, uint32_t values_max, struct dvv *out)
{
    struct event none = { 0 };
    return sync_core(a, true, b, &none, values_max, out);
}

int dvv_update(const struct dvv *context, const struct dvv *stored, uint64_t id,
               const struct kv_slice *vals, uint32_t nvals, uint32_t values_max, struct dvv *out)
{
    struct event ev = { nvals > 0, id, vals, nvals };
    return sync_core(context, false, stored, &ev, values_max, out);
}

int dvv_join(const struct dvv *d, struct dvv *out)
{
    assert(d != out);
    dvv_clear(out);
    int rc = reserve_entries(out, d->nentries);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < d->nentries; i++) {
        out->entries[i] = d->entries[i];
        out->entries[i].first = 0;
        out->entries[i].nvalues = 0;
    }
    out->nentries = d->nentries;
    return KV_OK;
}

/* ---- encoding ---- */

const char *dvv_get_varint(const char *p, const char *limit, uint64_t max, uint64_t *out)
{
    uint64_t v;
    const char *q = kv_get_varint64(p, limit, &v);
    /* A 10th byte may carry only bit 63; kv_get_varint64 drops higher bits. */
    if (!q || q - p != kv_varint_len(v) || v > max || (q - p == 10 && (unsigned char)q[-1] > 1))
        return NULL;
    *out = v;
    return q;
}

/* dvv_get_varint for 32-bit fields. */
static const char *get_u32(const char *p, const char *limit, uint32_t *out)
{
    uint64_t v;
    p = dvv_get_varint(p, limit, UINT32_MAX, &v);
    if (p)
        *out = (uint32_t)v;
    return p;
}

static size_t value_bytes(struct kv_slice v) { return (size_t)kv_varint_len(v.len) + v.len; }

size_t dvv_encoded_bytes(const struct dvv *d)
{
    size_t n = (size_t)kv_varint_len(d->nentries) + (size_t)kv_varint_len(d->nanon);
    for (uint32_t i = 0; i < d->nentries; i++) {
        const struct dvv_entry *e = &d->entries[i];
        n += 8 + (size_t)kv_varint_len(e->counter) + (size_t)kv_varint_len(e->nvalues);
        for (uint32_t k = 0; k < e->nvalues; k++)
            n += value_bytes(d->values[e->first + k]);
    }
    for (uint32_t k = 0; k < d->nanon; k++)
        n += value_bytes(d->anon[k]);
    return n;
}

static char *put_value(char *p, struct kv_slice v)
{
    p = kv_put_varint64(p, v.len);
    if (v.len)
        memcpy(p, v.data, v.len);
    return p + v.len;
}

int dvv_encode(const struct dvv *d, struct kv_buf *out)
{
    size_t total = dvv_encoded_bytes(d);
    int rc = kv_buf_reserve(out, total);
    if (rc != KV_OK)
        return rc;
    char *start = out->data + out->len, *p = start;
    p = kv_put_varint32(p, d->nentries);
    for (uint32_t i = 0; i < d->nentries; i++) {
        const struct dvv_entry *e = &d->entries[i];
        kv_put_fixed64(p, e->id);
        p = kv_put_varint64(p + 8, e->counter);
        p = kv_put_varint32(p, e->nvalues);
        for (uint32_t k = 0; k < e->nvalues; k++)
            p = put_value(p, d->values[e->first + k]);
    }
    p = kv_put_varint32(p, d->nanon);
    for (uint32_t k = 0; k < d->nanon; k++)
        p = put_value(p, d->anon[k]);
    assert((size_t)(p - start) == total);
    out->len += total;
    out->data[out->len] = 0;
    return KV_OK;
}

/* Reads one length-prefixed value; NULL if it runs past limit. */
static const char *get_value(const char *p, const char *limit, struct kv_slice *out)
{
    uint64_t len;
    p = dvv_get_varint(p, limit, UINT64_MAX, &len);
    if (!p || len > (uint64_t)(limit - p))
        return NULL;
    *out = kv_slice_make(p, (size_t)len);
    return p + len;
}

/* Reads `id counter` with the rules shared by clocks and contexts: ids
 * strictly increasing (after *prev_id unless first), counter >= 1. */
static const char *get_id_counter(const char *p, const char *limit, bool first, uint64_t *prev_id,
                                  uint64_t *counter)
{
    if (limit - p < 8)
        return NULL;
    uint64_t id = kv_get_fixed64(p);
    if (!first && id <= *prev_id)
        return NULL;
    p = dvv_get_varint(p + 8, limit, UINT64_MAX, counter);
    if (!p || *counter == 0)
        return NULL;
    *prev_id = id;
    return p;
}

/* State of one scan: the checks that span entries. */
struct scan {
    const struct dvv_visitor *v;
    const char *limit;
    uint32_t nvalues;       /* values so far, entries' and anonymous */
    int rc;                 /* a visitor's stop code */
};

static const char *scan_entry(const char *p, struct scan *s, bool first, uint64_t *prev_id)
{
    uint64_t counter;
    uint32_t nv;
    p = get_id_counter(p, s->limit, first, prev_id, &counter);
    if (p)
        p = get_u32(p, s->limit, &nv);
    if (!p || nv > counter || nv > DVV_VALUES_MAX - s->nvalues)
        return NULL;
    s->nvalues += nv;
    if (s->v->entry && (s->rc = s->v->entry(s->v->arg, *prev_id, counter, nv)) != KV_OK)
        return NULL;
    for (uint32_t k = 0; k < nv && p; k++) {
        struct kv_slice val;
        p = get_value(p, s->limit, &val);
        if (p && s->v->value && (s->rc = s->v->value(s->v->arg, val, false)) != KV_OK)
            return NULL;
    }
    return p;
}

static const char *scan_anon(const char *p, struct scan *s)
{
    uint32_t n;
    struct kv_slice prev = { NULL, 0 };
    p = get_u32(p, s->limit, &n);
    if (!p || n > DVV_VALUES_MAX - s->nvalues)
        return NULL;
    for (uint32_t k = 0; k < n && p; k++) {
        struct kv_slice val;
        p = get_value(p, s->limit, &val);
        if (!p || (k > 0 && kv_slice_cmp(prev, val) >= 0))
            return NULL;
        prev = val;
        if (s->v->value && (s->rc = s->v->value(s->v->arg, val, true)) != KV_OK)
            return NULL;
    }
    return p;
}

int dvv_scan(struct kv_slice in, const struct dvv_visitor *v)
{
    struct scan s = { v, in.data + in.len, 0, KV_OK };
    const char *p = in.data;
    uint64_t prev_id = 0;
    uint32_t n;
    p = get_u32(p, s.limit, &n);
    if (!p || n > DVV_ENTRIES_MAX)
        return KV_ECORRUPT;
    for (uint32_t i = 0; i < n && p; i++)
        p = scan_entry(p, &s, i == 0, &prev_id);
    if (p)
        p = scan_anon(p, &s);
    if (s.rc != KV_OK)
        return s.rc;
    return p == s.limit ? KV_OK : KV_ECORRUPT;
}

static int decode_entry(void *arg, uint64_t id, uint64_t counter, uint32_t nvalues)
{
    return push_entry(arg, id, counter);
}

static int decode_value(void *arg, struct kv_slice val, bool anonymous)
{
    struct dvv *d = arg;
    if (!anonymous)
        return push_values(d, &val, 1, DVV_VALUES_MAX);
    int rc = reserve_anon(d, d->nanon + 1);
    if (rc == KV_OK)
        d->anon[d->nanon++] = val;
    return rc;
}

int dvv_decode(struct kv_slice in, struct dvv *out)
{
    struct dvv_visitor v = { decode_entry, decode_value, out };
    dvv_clear(out);
    return dvv_scan(in, &v);
}

int dvv_context_encode(const struct dvv *d, struct kv_buf *out)
{
    int rc = kv_buf_reserve(out, 1 + KV_VARINT32_BYTES_MAX + (size_t)d->nentries * (8 + KV_VARINT64_BYTES_MAX));
    if (rc != KV_OK)
        return rc;
    char *start = out->data + out->len, *p = start;
    *p++ = (char)DVV_CONTEXT_FORMAT;
    p = kv_put_varint32(p, d->nentries);
    for (uint32_t i = 0; i < d->nentries; i++) {
        kv_put_fixed64(p, d->entries[i].id);
        p = kv_put_varint64(p + 8, d->entries[i].counter);
    }
    out->len += (size_t)(p - start);
    out->data[out->len] = 0;
    return KV_OK;
}

int dvv_context_decode(struct kv_slice in, struct dvv *out)
{
    dvv_clear(out);
    const char *p = in.data, *limit = in.data + in.len;
    uint32_t n;
    if (in.len < 2 || (unsigned char)*p != DVV_CONTEXT_FORMAT)
        return KV_ECORRUPT;
    p = get_u32(p + 1, limit, &n);
    if (!p || n > DVV_ENTRIES_MAX)
        return KV_ECORRUPT;
    uint64_t id = 0, counter;
    for (uint32_t i = 0; i < n; i++) {
        p = get_id_counter(p, limit, i == 0, &id, &counter);
        if (!p)
            return KV_ECORRUPT;
        int rc = push_entry(out, id, counter);
        if (rc != KV_OK)
            return rc;
    }
    return p == limit ? KV_OK : KV_ECORRUPT;
}
