/* version_edit.c - see version_edit.h. */
#include "storage/version_edit.h"

#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "storage/ikey.h"

int file_meta_new(uint64_t number, uint64_t bytes, struct kv_slice smallest, struct kv_slice largest,
                  uint32_t range_tombstones, struct file_meta **out)
{
    struct file_meta *f = malloc(sizeof *f + smallest.len + largest.len);
    if (!f)
        return KV_ENOMEM;
    char *keys = (char *)(f + 1);
    memcpy(keys, smallest.data, smallest.len);
    memcpy(keys + smallest.len, largest.data, largest.len);
    f->number = number;
    f->bytes = bytes;
    f->range_tombstones = range_tombstones;
    f->refs = 1;
    f->smallest = kv_slice_make(keys, smallest.len);
    f->largest = kv_slice_make(keys + smallest.len, largest.len);
    *out = f;
    return KV_OK;
}

void file_meta_unref(struct file_meta *f)
{
    if (f && --f->refs == 0)
        free(f);
}

void version_edit_init(struct version_edit *e) { memset(e, 0, sizeof *e); }

void version_edit_free(struct version_edit *e)
{
    for (size_t i = 0; i < e->npointers; i++)
        kv_buf_free(&e->pointers[i].ikey);
    for (size_t i = 0; i < e->nadded; i++)
        file_meta_unref(e->added[i].f);
    free(e->pointers);
    free(e->deleted);
    free(e->added);
    version_edit_init(e);
}

void version_edit_set_log_number(struct version_edit *e, uint64_t n)
{
    e->has_log_number = true;
    e->log_number = n;
}

void version_edit_set_next_file_number(struct version_edit *e, uint64_t n)
{
    e->has_next_file_number = true;
    e->next_file_number = n;
}

void version_edit_set_last_seq(struct version_edit *e, uint64_t seq)
{
    e->has_last_seq = true;
    e->last_seq = seq;
}

/* Grows an array of `size`-byte items by one slot; the arrays of an edit
 * are short (a compaction's inputs and outputs), so growth is by one. */
static int grow(void **arr, size_t n, size_t size)
{
    void *p = realloc(*arr, (n + 1) * size);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    return KV_OK;
}

int version_edit_set_compact_pointer(struct version_edit *e, int level, struct kv_slice ikey)
{
    int rc = grow((void **)&e->pointers, e->npointers, sizeof *e->pointers);
    if (rc != KV_OK)
        return rc;
    struct version_edit_pointer *p = &e->pointers[e->npointers];
    memset(p, 0, sizeof *p);
    p->level = level;
    rc = kv_buf_set(&p->ikey, ikey.data, ikey.len);
    if (rc != KV_OK) {
        kv_buf_free(&p->ikey);
        return rc;
    }
    e->npointers++;
    return KV_OK;
}

int version_edit_delete_file(struct version_edit *e, int level, uint64_t number)
{
    int rc = grow((void **)&e->deleted, e->ndeleted, sizeof *e->deleted);
    if (rc != KV_OK)
        return rc;
    e->deleted[e->ndeleted].level = level;
    e->deleted[e->ndeleted].number = number;
    e->ndeleted++;
    return KV_OK;
}

int version_edit_add_file(struct version_edit *e, int level, struct file_meta *f)
{
    int rc = grow((void **)&e->added, e->nadded, sizeof *e->added);
    if (rc != KV_OK)
        return rc;
    file_meta_ref(f);
    e->added[e->nadded].level = level;
    e->added[e->nadded].f = f;
    e->nadded++;
    return KV_OK;
}

static int put_varstring(struct kv_buf *out, struct kv_slice s)
{
    int rc = kv_buf_append_varint(out, s.len);
    return rc == KV_OK ? kv_buf_append(out, s.data, s.len) : rc;
}

static int put_tag_varint(struct kv_buf *out, enum version_edit_tag tag, uint64_t v)
{
    int rc = kv_buf_append_varint(out, (uint64_t)tag);
    return rc == KV_OK ? kv_buf_append_varint(out, v) : rc;
}

static int encode_file(struct kv_buf *out, const struct version_edit_file *a)
{
    int rc = put_tag_varint(out, VERSION_EDIT_NEW_FILE, (uint64_t)a->level);
    if (rc == KV_OK)
        rc = kv_buf_append_varint(out, a->f->number);
    if (rc == KV_OK)
        rc = kv_buf_append_varint(out, a->f->bytes);
    if (rc == KV_OK)
        rc = put_varstring(out, a->f->smallest);
    if (rc == KV_OK)
        rc = put_varstring(out, a->f->largest);
    if (rc == KV_OK)
        rc = kv_buf_append_varint(out, a->f->range_tombstones);
    return rc;
}

int version_edit_encode(const struct version_edit *e, struct kv_buf *out)
{
    int rc = KV_OK;
    if (e->has_log_number)
        rc = put_tag_varint(out, VERSION_EDIT_LOG_NUMBER, e->log_number);
    if (rc == KV_OK && e->has_next_file_number)
        rc = put_tag_varint(out, VERSION_EDIT_NEXT_FILE_NUMBER, e->next_file_number);
    if (rc == KV_OK && e->has_last_seq)
        rc = put_tag_varint(out, VERSION_EDIT_LAST_SEQ, e->last_seq);
    for (size_t i = 0; rc == KV_OK && i < e->npointers; i++) {
        rc = put_tag_varint(out, VERSION_EDIT_COMPACT_POINTER, (uint64_t)e->pointers[i].level);
        if (rc == KV_OK)
            rc = put_varstring(out, kv_slice_make(e->pointers[i].ikey.data, e->pointers[i].ikey.len));
    }
    for (size_t i = 0; rc == KV_OK && i < e->ndeleted; i++) {
        rc = put_tag_varint(out, VERSION_EDIT_DELETED_FILE, (uint64_t)e->deleted[i].level);
        if (rc == KV_OK)
            rc = kv_buf_append_varint(out, e->deleted[i].number);
    }
    for (size_t i = 0; rc == KV_OK && i < e->nadded; i++)
        rc = encode_file(out, &e->added[i]);
    return rc;
}

/* ---- decoding: every helper returns the byte after the field or NULL ---- */

static const char *get_level(const char *p, const char *end, int *level)
{
    uint32_t v;
    p = kv_get_varint32(p, end, &v);
    if (!p || v >= ENGINE_LEVELS)
        return NULL;
    *level = (int)v;
    return p;
}

static const char *get_ikey(const char *p, const char *end, struct kv_slice *out)
{
    uint32_t n;
    p = kv_get_varint32(p, end, &n);
    if (!p || n < IKEY_TRAILER_BYTES || n > (size_t)(end - p) || n > ENGINE_KEY_BYTES_MAX + IKEY_TRAILER_BYTES)
        return NULL;
    *out = kv_slice_make(p, n);
    return p + n;
}

static const char *decode_file(const char *p, const char *end, struct version_edit *e, int *rc)
{
    int level;
    uint64_t number, bytes;
    uint32_t tombs;
    struct kv_slice smallest, largest;
    *rc = KV_ECORRUPT;
    if (!(p = get_level(p, end, &level)) || !(p = kv_get_varint64(p, end, &number)) ||
        !(p = kv_get_varint64(p, end, &bytes)) || !(p = get_ikey(p, end, &smallest)) ||
        !(p = get_ikey(p, end, &largest)) || !(p = kv_get_varint32(p, end, &tombs)))
        return NULL;
    if (ikey_compare(smallest, largest) > 0)
        return NULL;
    struct file_meta *f;
    if ((*rc = file_meta_new(number, bytes, smallest, largest, tombs, &f)) != KV_OK)
        return NULL;
    *rc = version_edit_add_file(e, level, f);
    file_meta_unref(f);
    return *rc == KV_OK ? p : NULL;
}

static const char *decode_field(uint32_t tag, const char *p, const char *end, struct version_edit *e, int *rc)
{
    uint64_t v;
    int level;
    struct kv_slice key;
    *rc = KV_ECORRUPT;
    switch (tag) {
    case VERSION_EDIT_LOG_NUMBER:
        if ((p = kv_get_varint64(p, end, &v)))
            version_edit_set_log_number(e, v);
        break;
    case VERSION_EDIT_NEXT_FILE_NUMBER:
        if ((p = kv_get_varint64(p, end, &v)))
            version_edit_set_next_file_number(e, v);
        break;
    case VERSION_EDIT_LAST_SEQ:
        if ((p = kv_get_varint64(p, end, &v)) && v > KV_SEQ_MAX)
            p = NULL;
        if (p)
            version_edit_set_last_seq(e, v);
        break;
    case VERSION_EDIT_COMPACT_POINTER:
        if ((p = get_level(p, end, &level)) && (p = get_ikey(p, end, &key)) &&
            (*rc = version_edit_set_compact_pointer(e, level, key)) != KV_OK)
            p = NULL;
        break;
    case VERSION_EDIT_DELETED_FILE:
        if ((p = get_level(p, end, &level)) && (p = kv_get_varint64(p, end, &v)) &&
            (*rc = version_edit_delete_file(e, level, v)) != KV_OK)
            p = NULL;
        break;
    case VERSION_EDIT_NEW_FILE:
        return decode_file(p, end, e, rc);
    default:
        return NULL;
    }
    if (p)
        *rc = KV_OK;
    return p;
}

int version_edit_decode(struct kv_slice in, struct version_edit *e)
{
    if (in.len == 0)
        return KV_OK; /* an empty edit (and no arithmetic on a NULL data pointer) */
    const char *p = in.data, *end = in.data + in.len;
    int rc = KV_OK;
    while (p < end) {
        uint32_t tag;
        p = kv_get_varint32(p, end, &tag);
        if (!p) {
            rc = KV_ECORRUPT;
            break;
        }
        p = decode_field(tag, p, end, e, &rc);
        if (!p)
            break;
    }
    if (rc != KV_OK)
        version_edit_free(e);
    return rc;
}
