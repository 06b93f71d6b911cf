/*
 * state_file.h - small files of node state, replaced atomically.
 *
 * The node keeps a few small files apart from the storage engine (the
 * ring, the last known peers) in a directory of its own,
 * DATA_DIR/cluster (STATE_FILE_DIR), so the engine, which deletes
 * temporary files it does not know in its directory, never sees them.
 *
 * state_file_write replaces NAME with new contents so that a crash at any
 * moment leaves either the old file or the new one, never a mix: write
 * NAME.new, fsync it, rename it over NAME, fsync the directory. Readers
 * of the contents still check them (ring_decode has a checksum).
 *
 * Limits: STATE_FILE_BYTES_MAX per file (a ring of 16,384 partitions and
 * 4,096 members is ~100 KiB; the cap leaves room and bounds a read of a
 * damaged file). Plain POSIX calls, blocking: files are small and
 * written on ring changes only.
 *
 * Threading: no shared state; callers serialise writes of one file.
 */
#ifndef RINGKV_NODE_STATE_FILE_H
#define RINGKV_NODE_STATE_FILE_H

#include <stddef.h>

#include "common/buf.h"
#include "common/status.h"

#define STATE_FILE_DIR "cluster"
#define STATE_FILE_BYTES_MAX (4u * 1024u * 1024u)

/* Creates DATA_DIR/cluster if missing and writes its path into out
 * (cap bytes). KV_OK; KV_EINVAL if it does not fit; KV_EIO (logged). */
int state_file_dir(const char *data_dir, char *out, size_t cap) KV_MUST_USE;

/* Replaces dir/name with data[0..len) atomically (see above). KV_OK,
 * KV_ETOOBIG over STATE_FILE_BYTES_MAX, KV_EIO (logged, with errno). */
int state_file_write(const char *dir, const char *name, const void *data, size_t len) KV_MUST_USE;

/* Reads all of dir/name into out (replacing its contents). KV_OK;
 * KV_ENOTFOUND if the file does not exist; KV_ETOOBIG; KV_EIO (logged);
 * KV_ENOMEM. */
int state_file_read(const char *dir, const char *name, struct kv_buf *out) KV_MUST_USE;

/* Removes dir/name; a missing file is fine. KV_OK or KV_EIO (logged). */
int state_file_remove(const char *dir, const char *name) KV_MUST_USE;

#endif
