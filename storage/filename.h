/*
 * filename.h - the names of the files in an engine directory
 * (storage/FORMAT.md, "Directory").
 *
 *   NNNNNN.log        a write-ahead log (storage/wal.h records of batches)
 *   NNNNNN.sst        a table (storage/table.h)
 *   MANIFEST-NNNNNN   a manifest (version edits, storage/version.h)
 *   CURRENT           names the live manifest, "MANIFEST-NNNNNN\n"
 *   LOCK              held with env_lock while the engine is open
 *   *.tmp             a CURRENT being replaced (env_write_atomic)
 *
 * NNNNNN is a decimal file number, zero-padded to at least 6 digits; all
 * numbers come from one counter, so they never repeat within a directory.
 * Paths are built into caller buffers of FILENAME_PATH_BYTES_MAX bytes.
 */
#ifndef RINGKV_STORAGE_FILENAME_H
#define RINGKV_STORAGE_FILENAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define FILENAME_PATH_BYTES_MAX 4096
#define FILENAME_CURRENT "CURRENT"
#define FILENAME_LOCK "LOCK"

enum filename_kind {
    FILENAME_LOG,
    FILENAME_TABLE,
    FILENAME_MANIFEST,
    FILENAME_CURRENT_FILE,
    FILENAME_LOCK_FILE,
    FILENAME_TEMP,
};

/* Writes dir/<name of (kind, number)> into out (FILENAME_PATH_BYTES_MAX
 * bytes). KV_EINVAL if it does not fit. number is ignored for CURRENT,
 * LOCK and TEMP (TEMP is the temporary name of CURRENT). */
int filename_path(char *out, const char *dir, enum filename_kind kind, uint64_t number) KV_MUST_USE;

/* Parses a bare file name. False for names the engine does not own. */
bool filename_parse(const char *name, enum filename_kind *kind, uint64_t *number);

/* Parses the content of CURRENT into the manifest number: KV_ECORRUPT
 * unless it is exactly "MANIFEST-<digits>\n". */
int filename_parse_current(const char *data, size_t len, uint64_t *number) KV_MUST_USE;

#endif
