/* bloom.c - see bloom.h. */
#include "storage/bloom.h"

#include <assert.h>
#include <string.h>

int bloom_k(int bits_per_key)
{
    /* ln 2 ~= 0.69 minimises the false-positive rate for a given size. */
    int k = (int)((double)bits_per_key * 0.69 + 0.5);
    if (k < BLOOM_K_MIN)
        k = BLOOM_K_MIN;
    if (k > BLOOM_K_MAX)
        k = BLOOM_K_MAX;
    return k;
}

static inline size_t line_of(uint64_t hash, size_t nlines)
{
    return (size_t)(((uint64_t)(uint32_t)hash * nlines) >> 32);
}

int bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, struct kv_buf *out)
{
    assert(bits_per_key >= 1);
    uint64_t nbits = (uint64_t)n * (uint64_t)bits_per_key;
    uint64_t nlines = (nbits + BLOOM_LINE_BITS - 1) / BLOOM_LINE_BITS;
    if (nlines < 1)
        nlines = 1;
    if (nlines > BLOOM_LINES_MAX)
        nlines = BLOOM_LINES_MAX;
    size_t nbytes = (size_t)nlines * BLOOM_LINE_BYTES;
    int k = bloom_k(bits_per_key);
    int rc = kv_buf_reserve(out, nbytes + 1);
    if (rc != KV_OK)
        return rc;
    unsigned char *bits = (unsigned char *)out->data + out->len;
    memset(bits, 0, nbytes);
    for (size_t j = 0; j < n; j++) {
        unsigned char *line = bits + line_of(hashes[j], (size_t)nlines) * BLOOM_LINE_BYTES;
        uint32_t h2 = (uint32_t)(hashes[j] >> 32), delta = (h2 >> 17) | 1;
        for (int i = 0; i < k; i++, h2 += delta) {
            uint32_t b = h2 & (BLOOM_LINE_BITS - 1);
            line[b >> 3] |= (unsigned char)(1u << (b & 7));
        }
    }
    bits[nbytes] = (unsigned char)k;
    out->len += nbytes + 1;
    out->data[out->len] = 0;
    return KV_OK;
}

bool bloom_may_match(struct kv_slice filter, uint64_t hash)
{
    if (filter.len < BLOOM_LINE_BYTES + 1 || (filter.len - 1) % BLOOM_LINE_BYTES != 0)
        return true;
    const unsigned char *bits = (const unsigned char *)filter.data;
    size_t nlines = (filter.len - 1) / BLOOM_LINE_BYTES;
    int k = bits[filter.len - 1];
    if (k < BLOOM_K_MIN || k > BLOOM_K_MAX || nlines > BLOOM_LINES_MAX)
        return true;
    const unsigned char *line = bits + line_of(hash, nlines) * BLOOM_LINE_BYTES;
    uint32_t h2 = (uint32_t)(hash >> 32), delta = (h2 >> 17) | 1;
    for (int i = 0; i < k; i++, h2 += delta) {
        uint32_t b = h2 & (BLOOM_LINE_BITS - 1);
        if (!(line[b >> 3] & (1u << (b & 7))))
            return false;
    }
    return true;
}
