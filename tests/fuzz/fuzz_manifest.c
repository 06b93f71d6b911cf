/*
 * fuzz_manifest.c - libFuzzer over the version edit decoder (the records
 * of the MANIFEST log; the log framing itself is fuzz_wal's).
 * Invariant (abort on violation): an edit that decodes re-encodes, and
 * that encoding decodes and re-encodes to the same bytes.
 * Seeds: tests/fuzz/corpus/manifest/ (make_manifest_corpus.c output).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "common/buf.h"
#include "storage/version_edit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;
    struct version_edit e, again;
    version_edit_init(&e);
    version_edit_init(&again);
    struct kv_buf a = { 0 }, b = { 0 };
    if (version_edit_decode(kv_slice_make(copy, size), &e) == KV_OK) {
        if (version_edit_encode(&e, &a) != KV_OK ||
            version_edit_decode(kv_slice_make(a.data, a.len), &again) != KV_OK ||
            version_edit_encode(&again, &b) != KV_OK || a.len != b.len ||
            (a.len && memcmp(a.data, b.data, a.len) != 0))
            abort();
    }
    version_edit_free(&e);
    version_edit_free(&again);
    kv_buf_free(&a);
    kv_buf_free(&b);
    free(copy);
    return 0;
}
