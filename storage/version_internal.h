/*
 * version_internal.h - what version.c shares with manifest.c: building a
 * new version from a base version and edits. Not for other modules.
 *
 * A builder holds one reference on each file it lists. All functions run
 * with the engine mutex held (or before any other thread exists).
 */
#ifndef RINGKV_STORAGE_VERSION_INTERNAL_H
#define RINGKV_STORAGE_VERSION_INTERNAL_H

#include "storage/version.h"

struct version_builder {
    struct file_meta **files[ENGINE_LEVELS];
    size_t n[ENGINE_LEVELS];
    size_t cap[ENGINE_LEVELS];
};

int version_builder_init(struct version_builder *b, const struct version *base) KV_MUST_USE;
int version_builder_apply(struct version_builder *b, const struct version_edit *e) KV_MUST_USE;
/* Sorts and checks the levels (KV_ECORRUPT on overlap or a duplicate
 * file) and hands the files to a new linked version with one reference. */
int version_builder_finish(struct version_builder *b, struct version_set *vs, struct version **out) KV_MUST_USE;
void version_builder_free(struct version_builder *b);

/* An empty version linked into vs's live list, one reference. */
int version_new(struct version_set *vs, struct version **out) KV_MUST_USE;
/* Computes level sizes and the compaction score. */
void version_finalize(struct version *v);

#endif
