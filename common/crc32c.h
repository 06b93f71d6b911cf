/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78).
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * run time), else a slicing-by-8 table. Stored checksums are *masked*
 * (kv_crc32c_mask) so that a CRC computed over data that itself contains
 * CRCs does not degenerate; every on-disk format says which it stores.
 */
#ifndef RINGKV_COMMON_CRC32C_H
#define RINGKV_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 for a fresh start) with n bytes of data. */
uint32_t kv_crc32c_extend(uint32_t crc, const void *data, size_t n);

static inline uint32_t kv_crc32c(const void *data, size_t n) { return kv_crc32c_extend(0, data, n); }

#define KV_CRC32C_MASK_DELTA 0xa282ead8u
static inline uint32_t kv_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + KV_CRC32C_MASK_DELTA; }
static inline uint32_t kv_crc32c_unmask(uint32_t m)
{
    uint32_t rot = m - KV_CRC32C_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#endif
