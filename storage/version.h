/*
 * version.h - versions of the level structure and the version set that
 * persists them in the manifest.
 *
 * A version is an immutable snapshot of which table files make up each
 * level: level 0 holds flushed memtables, newest first, possibly
 * overlapping; levels 1.. are sorted by key and never overlap (in
 * internal-key order: two neighbours may share a boundary user key only
 * through a range-tombstone end sentinel, see version_edit.h). Readers
 * and iterators pin a version with a reference so its files stay alive
 * while newer versions replace it.
 *
 * The version set owns the current version, the list of live versions
 * (so unreferenced files can be found and deleted), the file-number
 * counter, the last sequence number, the log number, and the manifest:
 * every change is a version edit appended (and synced) to MANIFEST-N
 * before it is installed. CURRENT names the live manifest and is replaced
 * with env_write_atomic when a new manifest is started (at open and when
 * the manifest passes VERSION_MANIFEST_BYTES_MAX).
 *
 * Recovery reads CURRENT, then the manifest it names, applying its edits
 * in order. A torn tail at the end of the manifest is the WAL torn-tail
 * policy (storage/wal.h): the unfinished last edit was never installed
 * and is ignored. Any other damage (bad CURRENT, missing manifest, an
 * edit that does not decode, overlapping files in a level >= 1, missing
 * counters) is KV_ECORRUPT.
 *
 * Threading: the version set is guarded by the engine mutex given at
 * creation (`mu`); functions say whether they expect it held. Version
 * references are atomic: version_ref needs the mutex only for the
 * current version of a live set; version_unref may be called without it.
 * version_set_log_and_apply is called by one thread at a time (the
 * engine's background thread, or open before that thread starts).
 */
#ifndef RINGKV_STORAGE_VERSION_H
#define RINGKV_STORAGE_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"
#include "storage/env.h"
#include "storage/version_edit.h"
#include "storage/wal.h"

/* A manifest longer than this is replaced by a fresh one holding only a
 * snapshot of the current version (so recovery reads a bounded file). */
#define VERSION_MANIFEST_BYTES_MAX (4u * 1024u * 1024u) /* 4 MiB */

struct version_set;

struct version {
    struct version_set *vs;
    struct version *prev;           /* in the version set's live list */
    struct version *next;
    atomic_int refs;
    struct file_meta **files[ENGINE_LEVELS];
    size_t nfiles[ENGINE_LEVELS];
    uint64_t level_bytes[ENGINE_LEVELS];
    /* The level most in need of compaction and its score (>= 1: needed):
     * level 0 by file count / level0_compaction_trigger, level n >= 1 by
     * bytes / version_set_level_bytes_max(n). The last level scores 0. */
    int compaction_level;
    double compaction_score;
};

struct version_set_options {
    struct env *env;
    const char *dir;                 /* copied */
    uint64_t level1_bytes;
    int level0_compaction_trigger;
};

struct version_set {
    struct env *env;
    char *dir;
    pthread_mutex_t *mu;
    uint64_t level1_bytes;
    int level0_compaction_trigger;
    struct version *current;
    struct version live;             /* sentinel of the circular list of live versions */
    uint64_t next_file_number;
    uint64_t log_number;             /* logs numbered below are fully in tables */
    uint64_t last_seq;               /* newest sequence number handed to a write */
    uint64_t manifest_number;        /* 0: none yet */
    struct wal_writer *manifest;     /* NULL: the next apply starts a new manifest */
    struct kv_buf compact_pointer[ENGINE_LEVELS]; /* largest key of the last compaction (empty: none) */
    bool applying;                   /* a log_and_apply is writing the manifest */
};

int version_set_new(const struct version_set_options *o, pthread_mutex_t *mu, struct version_set **out) KV_MUST_USE;
/* Every version except the current one must have been released. */
void version_set_free(struct version_set *vs);

/*
 * Loads the state named by CURRENT. KV_ENOTFOUND if the directory has no
 * CURRENT (a new engine), KV_ECORRUPT as described above, KV_EIO.
 * *dropped_bytes_out (may be NULL) gets the size of a torn manifest tail.
 * Call before any apply, without the mutex (nothing else runs yet).
 */
int version_set_recover(struct version_set *vs, uint64_t *dropped_bytes_out) KV_MUST_USE;

/*
 * Applies edit to the current version: fills in the log number (if the
 * edit has none), next file number and last sequence number, writes the
 * edit to the manifest (a new manifest and CURRENT if none is open),
 * syncs it, then installs the new version. Called with mu held; mu is
 * released while writing. On failure nothing is installed, the manifest
 * is abandoned (the next call starts a fresh one) and the error returned.
 */
int version_set_log_and_apply(struct version_set *vs, struct version_edit *edit) KV_MUST_USE;

/* mu held. */
static inline uint64_t version_set_new_file_number(struct version_set *vs) { return vs->next_file_number++; }
void version_set_mark_file_number_used(struct version_set *vs, uint64_t number);
/* Target bytes of level n >= 1: level1_bytes * 10^(n-1). */
uint64_t version_set_level_bytes_max(const struct version_set *vs, int level);

/*
 * The numbers of the files of every live version, sorted ascending, in
 * a malloc'd array the caller frees. mu held.
 */
int version_set_live_files(struct version_set *vs, uint64_t **numbers, size_t *count) KV_MUST_USE;

/* mu held (or no other thread). */
struct version *version_set_ref_current(struct version_set *vs);
void version_ref(struct version *v);
/* Drops a reference; the last one unlinks and frees the version (taking mu). */
void version_unref(struct version *v);
/* Same, for a caller that holds mu. */
void version_unref_locked(struct version *v);

/* ---- queries on one version (no lock: a version is immutable) ---- */

/* Index of the first file whose largest key >= ikey in a level >= 1
 * (files sorted); n if none. */
size_t version_find_file(struct file_meta *const *files, size_t n, struct kv_slice ikey);

/*
 * For point reads in a level >= 1: the index of the one file whose key
 * range holds user key k, or n. Files are found by user key (not by
 * internal key) so that a file holding only older versions of k is not
 * skipped: its range tombstones may still cover k. A file whose largest
 * key is a tombstone end sentinel at k ends before k and is passed over.
 */
size_t version_find_file_for_user_key(struct file_meta *const *files, size_t n, struct kv_slice k);

/* True if a file of `level` may hold a user key in [begin, end]
 * (inclusive; NULL: unbounded). */
bool version_overlap_in_level(const struct version *v, int level, const struct kv_slice *begin,
                              const struct kv_slice *end);

/*
 * The files of `level` that overlap the user-key range [begin, end]
 * (NULL: unbounded), in level order, as a malloc'd array (caller frees;
 * the files are not referenced). For level 0 the range grows with each
 * file found until no overlapping file is left out, so the result can be
 * compacted without leaving an older overlapping level-0 file behind.
 */
int version_overlapping_files(const struct version *v, int level, const struct kv_slice *begin,
                              const struct kv_slice *end, struct file_meta ***out, size_t *count) KV_MUST_USE;

/* Sum of the sizes of files. */
uint64_t version_files_bytes(struct file_meta *const *files, size_t n);

#endif
