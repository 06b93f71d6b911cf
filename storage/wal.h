/*
 * wal.h - the write-ahead log record format (also used for the manifest).
 *
 * A log file is a sequence of 32 KiB blocks; each record is split into
 * fragments that never straddle a block boundary:
 *
 *   fragment = crc32c_masked:fixed32 ++ length:fixed16 ++ type:u8 ++ payload
 *   WAL_HEADER_BYTES = 4 + 2 + 1 = 7
 *   type: FULL=1 | FIRST=2 | MIDDLE=3 | LAST=4   (0 = zero padding)
 *   crc covers type and payload.
 *
 * A block tail shorter than a header is zero-filled. Full grammar, the
 * torn-tail policy and a worked example: storage/FORMAT.md.
 *
 * Torn-tail policy (reader): an incomplete or checksum-failing fragment
 * at the very end of the file (nothing valid after it) is a write cut
 * short by a crash: the reader stops there and reports end of log,
 * counting the dropped bytes. A bad fragment followed by valid data is
 * corruption in the middle: KV_ECORRUPT.
 *
 * Threading: one writer, one reader per file; neither is thread-safe.
 */
#ifndef RINGKV_STORAGE_WAL_H
#define RINGKV_STORAGE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/status.h"
#include "storage/env.h"

#define WAL_BLOCK_BYTES 32768
#define WAL_HEADER_BYTES (4 + 2 + 1)
#define WAL_RECORD_BYTES_MAX (UINT32_C(1) << 30) /* 1 GiB: larger records are refused */

struct wal_writer;
struct wal_reader;

/* Takes ownership of f (an ENV_OPEN_TRUNCATE or ENV_OPEN_APPEND file whose size
 * is initial_size). */
int wal_writer_new(struct env_file *f, uint64_t initial_size, struct wal_writer **out) KV_MUST_USE;
/* Appends one record. The bytes are handed to the OS (env_append) before it
 * returns; they are durable only after wal_writer_sync. */
int wal_writer_add(struct wal_writer *w, struct kv_slice record) KV_MUST_USE;
int wal_writer_sync(struct wal_writer *w) KV_MUST_USE;
/* The file w appends to, for a sync run on another thread while the owner
 * keeps appending (env_sync may overlap env_append of the same file; the
 * wal_writer itself is not thread-safe). The caller keeps w open until
 * that sync returns, and reports a failed one with wal_writer_fail. */
struct env_file *wal_writer_file(struct wal_writer *w);
/* Makes rc (a failed sync of wal_writer_file) w's sticky status: later
 * adds and syncs return it. Called by the owner's thread (or under its lock). */
void wal_writer_fail(struct wal_writer *w, int rc);
uint64_t wal_writer_size(const struct wal_writer *w); /* bytes in the file */
/* Closes the file (no sync) and frees w. */
int wal_writer_close(struct wal_writer *w);

/* Takes ownership of f (ENV_OPEN_READ). */
int wal_reader_new(struct env_file *f, struct wal_reader **out) KV_MUST_USE;
/*
 * Reads the next record into *out (valid until the next call).
 * Returns KV_OK, KV_ENOTFOUND at the end of the log (including a torn
 * tail), KV_ECORRUPT, or KV_EIO.
 */
int wal_reader_next(struct wal_reader *r, struct kv_slice *out) KV_MUST_USE;
/* Bytes skipped as a torn tail (0 if the log ended cleanly). */
uint64_t wal_reader_dropped_bytes(const struct wal_reader *r);
/* Offset just past the last whole record read. A writer may resume there
 * (ENV_OPEN_APPEND, wal_writer_new(f, good_offset)) only if no bytes were
 * dropped; after a torn tail, start a new log instead. */
uint64_t wal_reader_good_offset(const struct wal_reader *r);
void wal_reader_free(struct wal_reader *r); /* closes the file */

#endif
