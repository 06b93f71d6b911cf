/*
 * keycmp.h - key comparisons for the hottest loops (merging iterators,
 * the engine iterator), where keys are short and compared millions of
 * times a second.
 *
 * Same order as kv_slice_cmp / ikey_compare (memcmp, then shorter first;
 * internal keys: user key, then larger trailer first), but compared eight
 * bytes at a time as big-endian words, inline: for 16-byte keys that is
 * two loads and compares instead of a call into the C library's memcmp,
 * which costs more in setup than in comparing.
 */
#ifndef RINGKV_STORAGE_KEYCMP_H
#define RINGKV_STORAGE_KEYCMP_H

#include <stdint.h>
#include <string.h>

#include "common/slice.h"
#include "storage/ikey.h"

static inline uint64_t keycmp_load_be64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v); /* little-endian host: byte 0 becomes the most significant */
}

/* memcmp order of a and b; a proper prefix sorts first. */
static inline int keycmp_bytes(struct kv_slice a, struct kv_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = keycmp_load_be64(a.data + i), y = keycmp_load_be64(b.data + i);
        if (x != y)
            return x < y ? -1 : 1;
    }
    for (; i < n; i++) {
        unsigned char x = (unsigned char)a.data[i], y = (unsigned char)b.data[i];
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

/* ikey_compare, inline. */
static inline int keycmp_ikey(struct kv_slice a, struct kv_slice b)
{
    int r = keycmp_bytes(ikey_user(a), ikey_user(b));
    if (r == 0) {
        uint64_t ta = ikey_trailer(a), tb = ikey_trailer(b);
        r = ta > tb ? -1 : ta < tb;
    }
    return r;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "keycmp_load_be64 assumes a little-endian host");

#endif
