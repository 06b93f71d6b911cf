/*
 * env.h - all file I/O of the storage engine goes through a struct env.
 *
 * Three implementations:
 *   env_posix_new()    the real file system (pread/write/fsync, flock,
 *                      mmap of read-only files).
 *   env_mem_new()      an in-memory file system, for fast unit tests.
 *   env_fault_new(b)   wraps another env; remembers what was written since
 *                      each file's last sync and can drop it all
 *                      (env_fault_drop_unsynced, a simulated power loss),
 *                      and can fail chosen calls (env_fault_fail_after).
 *
 * An env is a const table of operations plus the implementation's state;
 * callers use the env_* wrappers below, never the table directly.
 * Paths are plain '/'-separated strings; an env does not interpret them
 * beyond that. Every function returns KV_OK or a KV_E* code.
 *
 * Threading: an env and distinct files may be used from several threads
 * at once; a single env_file must not be appended to concurrently, but
 * one thread may sync a file while another appends to it (the sync then
 * covers at least what was appended before it started).
 * Ownership: env_*_open hands out a file the caller must env_close.
 */
#ifndef RINGKV_STORAGE_ENV_H
#define RINGKV_STORAGE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct env;
struct env_file;

enum env_open_mode {
    ENV_OPEN_READ,      /* existing file, positional reads only */
    ENV_OPEN_TRUNCATE,  /* create or truncate, appends only */
    ENV_OPEN_APPEND,    /* create if missing, appends go to the end */
};

struct env_ops {
    int (*open)(struct env *env, const char *path, enum env_open_mode mode, struct env_file **out);
    /* Appends n bytes; they are handed to the OS (or the in-memory store) before return. */
    int (*append)(struct env_file *f, const void *data, size_t n);
    /* Reads up to n bytes at off; *nread < n only at end of file. */
    int (*pread)(struct env_file *f, uint64_t off, void *buf, size_t n, size_t *nread);
    int (*sync)(struct env_file *f);   /* fdatasync: durable against power loss */
    int (*size)(struct env_file *f, uint64_t *out);
    int (*close)(struct env_file *f);  /* always frees f, even on error */
    /* Optional (NULL: not supported). Maps the first n bytes of a file
     * opened ENV_OPEN_READ, read-only, at most once per file; the memory
     * stays valid until close. The file must hold n bytes (else an error)
     * and must never shrink while mapped. Readers of immutable files use
     * it to read in place, without a copy per read. */
    int (*map)(struct env_file *f, uint64_t n, const char **out);
    int (*remove)(struct env *env, const char *path);
    int (*rename)(struct env *env, const char *from, const char *to); /* atomic replace */
    int (*mkdir)(struct env *env, const char *path);  /* KV_OK if it already exists */
    int (*sync_dir)(struct env *env, const char *path); /* makes creates/renames durable */
    /* *names is a malloc'd array of malloc'd names (not . or ..); free with env_free_names. */
    int (*list)(struct env *env, const char *dir, char ***names, size_t *count);
    int (*exists)(struct env *env, const char *path, bool *out);
    /* Exclusive advisory lock held until unlock; KV_EBUSY if another process holds it. */
    int (*lock)(struct env *env, const char *path, struct env_file **out);
    int (*unlock)(struct env_file *lock);
    void (*destroy)(struct env *env);
};

/* Every implementation starts with this header. */
struct env {
    const struct env_ops *ops;
};
/* Every file handle starts with this header. */
struct env_file {
    struct env *env;
};

static inline int env_open(struct env *e, const char *path, enum env_open_mode m, struct env_file **out) { return e->ops->open(e, path, m, out); }
static inline int env_append(struct env_file *f, const void *d, size_t n) { return f->env->ops->append(f, d, n); }
static inline int env_pread(struct env_file *f, uint64_t off, void *buf, size_t n, size_t *nread) { return f->env->ops->pread(f, off, buf, n, nread); }
static inline int env_sync(struct env_file *f) { return f->env->ops->sync(f); }
static inline int env_size(struct env_file *f, uint64_t *out) { return f->env->ops->size(f, out); }
static inline int env_close(struct env_file *f) { return f->env->ops->close(f); }
/* KV_EINVAL when the env cannot map (see env_ops.map); callers then read. */
static inline int env_map(struct env_file *f, uint64_t n, const char **out)
{
    return f->env->ops->map ? f->env->ops->map(f, n, out) : KV_EINVAL;
}
static inline int env_remove(struct env *e, const char *p) { return e->ops->remove(e, p); }
static inline int env_rename(struct env *e, const char *a, const char *b) { return e->ops->rename(e, a, b); }
static inline int env_mkdir(struct env *e, const char *p) { return e->ops->mkdir(e, p); }
static inline int env_sync_dir(struct env *e, const char *p) { return e->ops->sync_dir(e, p); }
static inline int env_list(struct env *e, const char *d, char ***names, size_t *n) { return e->ops->list(e, d, names, n); }
static inline int env_exists(struct env *e, const char *p, bool *out) { return e->ops->exists(e, p, out); }
static inline int env_lock(struct env *e, const char *p, struct env_file **out) { return e->ops->lock(e, p, out); }
static inline int env_unlock(struct env_file *l) { return l->env->ops->unlock(l); }
static inline void env_destroy(struct env *e) { if (e) e->ops->destroy(e); }

void env_free_names(char **names, size_t count);

/* A malloc'd copy of path without repeated or trailing '/' and "./"
 * segments ("a//b/" -> "a/b", "" -> "."); ".." is kept as is. NULL if
 * out of memory. Used by envs that key state by path. */
char *env_path_normalise(const char *path);

/* Reads a whole (small) file into a malloc'd buffer the caller frees. */
int env_read_all(struct env *e, const char *path, char **data, size_t *len) KV_MUST_USE;
/* Writes data to path atomically: path.tmp, fsync, rename, fsync dir. */
int env_write_atomic(struct env *e, const char *dir, const char *name, const void *data, size_t len) KV_MUST_USE;

/* Constructors. The POSIX env is process-wide and destroy is a no-op for it. */
struct env *env_posix(void);
int env_mem_new(struct env **out) KV_MUST_USE;

/* Fault injection (tests only). The base env must outlive the fault env. */
int env_fault_new(struct env *base, struct env **out) KV_MUST_USE;
/* Simulated power loss: every file loses what was appended after its last
 * sync; files created (or renamed) since the last sync of their directory
 * are removed (renames are moved back, restoring a replaced file). Removes
 * and mkdir count as durable at once. Open handles become unusable (KV_EIO).
 * The exact model is documented in storage/env_fault.c. */
int env_fault_drop_unsynced(struct env *fault) KV_MUST_USE;
/* After `ops` more successful mutating calls (append, sync, sync_dir,
 * rename, remove, mkdir, open for write), every mutating call fails with
 * `status`, doing nothing, until reset with env_fault_fail_after(env, -1, 0). */
void env_fault_fail_after(struct env *fault, long ops, int status);
/* A power loss that tears: like env_fault_drop_unsynced, but each file
 * keeps a random part (chosen from seed) of what was appended after its
 * last sync, its last kept byte garbled when the part is partial. */
int env_fault_drop_unsynced_torn(struct env *fault, uint64_t seed) KV_MUST_USE;
/* After `reads` more successful preads, every pread fails with `status`
 * (the data stays intact) until reset with env_fault_fail_reads_after(env, -1, 0). */
void env_fault_fail_reads_after(struct env *fault, long reads, int status);

#endif
