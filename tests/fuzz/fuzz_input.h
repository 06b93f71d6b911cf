/*
 * fuzz_input.h - the input copy the fuzz targets share. libFuzzer's data
 * may sit inside a larger buffer; a heap copy of exactly size bytes lets
 * AddressSanitizer flag any read past the input's end.
 */
#ifndef RINGKV_TESTS_FUZZ_FUZZ_INPUT_H
#define RINGKV_TESTS_FUZZ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of data[0..size) (1 byte allocated for an empty input, so
 * it is never NULL on success); the caller frees it. NULL when out of
 * memory: the caller skips the input. */
static inline char *fuzz_input_copy(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    return copy;
}

#endif
