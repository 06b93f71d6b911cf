/*
 * env_fault.c - a crash-simulating env wrapped around another env (tests
 * and the simulator only).
 *
 * The crash model. A real file system keeps two kinds of promises, and
 * this env keeps a ledger of each so that env_fault_drop_unsynced can take
 * back exactly what a power cut could take back:
 *
 *  1. File contents. Bytes appended to a file are durable only once the
 *     file is synced. For every file opened for writing through this env
 *     we remember its current size and its size at the last successful
 *     env_sync. Dropping truncates the file back to the synced size.
 *     A file that existed before it was first opened here counts as
 *     synced in full. Opening with ENV_OPEN_TRUNCATE sets the synced size
 *     to 0: after a crash the old bytes are not promised to come back
 *     (a real disk may show either; we choose the harsher outcome).
 *
 *  2. Directory entries. Creating a file or renaming one changes its
 *     directory, and that change is durable only once the directory is
 *     synced (env_sync_dir), even if the file itself was synced. Each
 *     create (an open for writing of a missing file) and each rename is
 *     written to a journal, tagged with the directory of the new name.
 *     env_sync_dir(dir) forgets the journal entries of dir. Dropping
 *     undoes the remaining entries newest first: a create is undone by
 *     removing the file, a rename by moving the file back to its old name
 *     and, if the rename replaced a file, putting the replaced file's
 *     durable bytes back (they are read and kept when the rename happens).
 *     A rename across directories is durable when the directory of the
 *     new name is synced.
 *
 * Simplifications, chosen so that recovery code is tested against the
 * harsher outcome or because the engine never depends on the difference:
 * removes and mkdir are durable at once (a removed file never comes back,
 * and removing a path also settles any pending create or rename that made
 * it); a crash tears no single append in half (the engine's checksums
 * cover that case, tested directly in test_wal); locks are passed to the
 * base env untouched.
 *
 * After a drop every handle opened before it fails with KV_EIO (except
 * close, which frees it), like descriptors of a process that died, and
 * every file counts as synced.
 *
 * env_fault_drop_unsynced_torn tears instead of cutting: each file keeps
 * its synced bytes plus a seeded random part of its unsynced tail (all of
 * it, none, or a prefix whose last byte is garbled, like a sector written
 * half-way), which is what recovery code must survive after a power cut
 * in the middle of a write. env_fault_fail_reads_after makes preads fail
 * (a bad sector, a dying disk) without touching the data.
 *
 * env_fault_fail_after counts mutating calls: open for writing, append,
 * sync, sync_dir, rename, remove and mkdir. A call that is refused does
 * nothing to the base env.
 *
 * Threading: one mutex serialises every call, including those to the base
 * env (tests only; throughput does not matter here). The idea of the
 * ledger follows LevelDB's fault_injection_test; the code is our own.
 */
#include "storage/env.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct fault_state {
    char *path;      /* normalised; NULL once removed or forgotten */
    uint64_t size;   /* bytes appended so far */
    uint64_t synced; /* size at the last successful sync */
    int refs;        /* the table + open handles */
};

enum fault_op_kind { FAULT_OP_CREATE, FAULT_OP_RENAME };

struct fault_op {
    enum fault_op_kind kind;
    char *path;      /* the created file, or the new name of a rename */
    char *from;      /* old name of a rename */
    char *dir;       /* directory whose sync makes the op durable */
    char *old_bytes; /* durable bytes of a file the rename replaced */
    size_t old_len;
    bool had_old;
};

struct fault_env {
    struct env base;
    struct env *inner;
    pthread_mutex_t mu;
    struct fault_state **states;
    size_t nstates, capstates;
    struct fault_op *ops;
    size_t nops, capops;
    unsigned epoch;      /* bumped by each drop; handles of older epochs are dead */
    long fail_remaining; /* mutating calls left before failing; < 0 = never */
    int fail_status;
    long read_fail_remaining; /* preads left before failing; < 0 = never */
    int read_fail_status;
    uint64_t tear_seed;       /* drop: 0 = cut at the synced size, else tear (see env.h) */
};

struct fault_file {
    struct env_file base;
    struct env_file *inner;
    struct fault_state *st; /* NULL for read-only handles */
    unsigned epoch;
};

static const struct env_ops fault_ops;

static void state_unref(struct fault_state *st)
{
    if (st && --st->refs == 0) {
        free(st->path);
        free(st);
    }
}

static struct fault_state *state_find(struct fault_env *fe, const char *path)
{
    for (size_t i = 0; i < fe->nstates; i++)
        if (strcmp(fe->states[i]->path, path) == 0)
            return fe->states[i];
    return NULL;
}

/* Takes the state out of the path table (handles keep their reference). */
static void state_forget(struct fault_env *fe, struct fault_state *st)
{
    for (size_t i = 0; i < fe->nstates; i++) {
        if (fe->states[i] == st) {
            fe->states[i] = fe->states[--fe->nstates];
            free(st->path);
            st->path = NULL;
            state_unref(st);
            return;
        }
    }
}

static int state_add(struct fault_env *fe, const char *path, struct fault_state **out)
{
    if (fe->nstates == fe->capstates) {
        size_t ncap = fe->capstates ? fe->capstates * 2 : 16;
        struct fault_state **ns = realloc(fe->states, ncap * sizeof *ns);
        if (!ns)
            return KV_ENOMEM;
        fe->states = ns;
        fe->capstates = ncap;
    }
    struct fault_state *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return KV_ENOMEM;
    }
    st->refs = 1;
    fe->states[fe->nstates++] = st;
    *out = st;
    return KV_OK;
}

static void op_free(struct fault_op *op)
{
    free(op->path);
    free(op->from);
    free(op->dir);
    free(op->old_bytes);
}

/* The normalised directory part of a normalised path ("." for "a"). */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Appends a journal entry; takes ownership of the strings and bytes in op. */
static int journal_add(struct fault_env *fe, struct fault_op *op)
{
    if (!op->path || (op->kind == FAULT_OP_RENAME && !op->from) || !(op->dir = parent_dir(op->path)))
        goto fail;
    if (fe->nops == fe->capops) {
        size_t ncap = fe->capops ? fe->capops * 2 : 16;
        struct fault_op *no = realloc(fe->ops, ncap * sizeof *no);
        if (!no)
            goto fail;
        fe->ops = no;
        fe->capops = ncap;
    }
    fe->ops[fe->nops++] = *op;
    return KV_OK;
fail:
    op_free(op);
    return KV_ENOMEM;
}

/* Removing path settles (forgets) pending entries that produced it. */
static void journal_settle(struct fault_env *fe, const char *path)
{
    size_t o = 0;
    for (size_t i = 0; i < fe->nops; i++) {
        if (strcmp(fe->ops[i].path, path) == 0)
            op_free(&fe->ops[i]);
        else
            fe->ops[o++] = fe->ops[i];
    }
    fe->nops = o;
}

/* Under fe->mu: KV_OK if this mutating call may go ahead. */
static int fail_check(struct fault_env *fe)
{
    if (fe->fail_remaining < 0)
        return KV_OK;
    if (fe->fail_remaining == 0)
        return fe->fail_status;
    fe->fail_remaining--;
    return KV_OK;
}

/* Reads at most max bytes of path from the inner env into a malloc'd buffer. */
static int read_prefix(struct env *inner, const char *path, uint64_t max, char **out, size_t *len)
{
    char *data = NULL;
    size_t n = 0;
    int rc = env_read_all(inner, path, &data, &n);
    if (rc != KV_OK)
        return rc;
    *out = data;
    *len = n < max ? n : (size_t)max;
    return KV_OK;
}

/* Replaces the content of path in the inner env with data (no sync: the
 * inner env is the "disk" after the simulated crash). */
static int rewrite_file(struct env *inner, const char *path, const char *data, size_t len)
{
    struct env_file *f = NULL;
    int rc = env_open(inner, path, ENV_OPEN_TRUNCATE, &f);
    if (rc != KV_OK)
        return rc;
    if (len)
        rc = env_append(f, data, len);
    int crc = env_close(f);
    return rc != KV_OK ? rc : crc;
}

static bool handle_dead(struct fault_file *ff)
{
    struct fault_env *fe = (struct fault_env *)ff->base.env;
    return __atomic_load_n(&fe->epoch, __ATOMIC_ACQUIRE) != ff->epoch;
}

/* Under fe->mu: the ledger entry for a file just opened for writing. */
static int track_open(struct fault_env *fe, const char *norm, enum env_open_mode mode, bool existed,
                      struct env_file *inner, struct fault_state **out)
{
    uint64_t size = 0;
    int rc = env_size(inner, &size);
    if (rc != KV_OK)
        return rc;
    struct fault_state *st = state_find(fe, norm);
    if (!st) {
        rc = state_add(fe, norm, &st);
        if (rc != KV_OK)
            return rc;
        st->synced = existed ? size : 0;
    }
    st->size = size;
    if (mode == ENV_OPEN_TRUNCATE)
        st->synced = 0;
    if (!existed) {
        struct fault_op op = { .kind = FAULT_OP_CREATE, .path = strdup(norm) };
        rc = journal_add(fe, &op);
        if (rc != KV_OK)
            return rc;
    }
    st->refs++;
    *out = st;
    return KV_OK;
}

static int fault_open(struct env *env, const char *path, enum env_open_mode mode, struct env_file **out)
{
    struct fault_env *fe = (struct fault_env *)env;
    struct fault_file *ff = calloc(1, sizeof *ff);
    char *norm = env_path_normalise(path);
    bool existed = false;
    int rc = KV_ENOMEM;
    if (!ff || !norm)
        goto fail_nolock;
    pthread_mutex_lock(&fe->mu);
    if (mode != ENV_OPEN_READ) {
        rc = fail_check(fe);
        if (rc == KV_OK)
            rc = env_exists(fe->inner, path, &existed);
        if (rc != KV_OK)
            goto fail;
    }
    rc = env_open(fe->inner, path, mode, &ff->inner);
    if (rc != KV_OK)
        goto fail;
    if (mode != ENV_OPEN_READ) {
        rc = track_open(fe, norm, mode, existed, ff->inner, &ff->st);
        if (rc != KV_OK)
            goto fail;
    }
    ff->base.env = env;
    ff->epoch = fe->epoch;
    pthread_mutex_unlock(&fe->mu);
    free(norm);
    *out = &ff->base;
    return KV_OK;
fail:
    pthread_mutex_unlock(&fe->mu);
fail_nolock:
    if (ff && ff->inner) {
        int crc = env_close(ff->inner);
        (void)crc;
    }
    free(ff);
    free(norm);
    return rc;
}

static int fault_append(struct env_file *f, const void *data, size_t n)
{
    struct fault_file *ff = (struct fault_file *)f;
    struct fault_env *fe = (struct fault_env *)f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = handle_dead(ff) ? KV_EIO : fail_check(fe);
    if (rc == KV_OK)
        rc = env_append(ff->inner, data, n);
    if (rc == KV_OK && ff->st)
        ff->st->size += n;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fault_pread(struct env_file *f, uint64_t off, void *buf, size_t n, size_t *nread)
{
    struct fault_file *ff = (struct fault_file *)f;
    struct fault_env *fe = (struct fault_env *)f->env;
    if (handle_dead(ff))
        return KV_EIO;
    pthread_mutex_lock(&fe->mu);
    int rc = KV_OK;
    if (fe->read_fail_remaining == 0)
        rc = fe->read_fail_status;
    else if (fe->read_fail_remaining > 0)
        fe->read_fail_remaining--;
    pthread_mutex_unlock(&fe->mu);
    return rc != KV_OK ? rc : env_pread(ff->inner, off, buf, n, nread);
}

static int fault_sync(struct env_file *f)
{
    struct fault_file *ff = (struct fault_file *)f;
    struct fault_env *fe = (struct fault_env *)f->env;
    pthread_mutex_lock(&fe->mu);
    int rc = handle_dead(ff) ? KV_EIO : fail_check(fe);
    if (rc == KV_OK)
        rc = env_sync(ff->inner);
    if (rc == KV_OK && ff->st)
        ff->st->synced = ff->st->size;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fault_size(struct env_file *f, uint64_t *out)
{
    struct fault_file *ff = (struct fault_file *)f;
    if (handle_dead(ff))
        return KV_EIO;
    return env_size(ff->inner, out);
}

static int fault_close(struct env_file *f)
{
    struct fault_file *ff = (struct fault_file *)f;
    struct fault_env *fe = (struct fault_env *)f->env;
    int rc = env_close(ff->inner);
    pthread_mutex_lock(&fe->mu);
    state_unref(ff->st);
    pthread_mutex_unlock(&fe->mu);
    free(ff);
    return rc;
}

static int fault_remove(struct env *env, const char *path)
{
    struct fault_env *fe = (struct fault_env *)env;
    char *norm = env_path_normalise(path);
    if (!norm)
        return KV_ENOMEM;
    pthread_mutex_lock(&fe->mu);
    int rc = fail_check(fe);
    if (rc == KV_OK)
        rc = env_remove(fe->inner, path);
    if (rc == KV_OK) {
        struct fault_state *st = state_find(fe, norm);
        if (st)
            state_forget(fe, st);
        journal_settle(fe, norm);
    }
    pthread_mutex_unlock(&fe->mu);
    free(norm);
    return rc;
}

/* Under fe->mu: keeps what a crash would restore under `to` if the rename is lost. */
static int save_replaced(struct fault_env *fe, const char *to, const char *nto, struct fault_op *op)
{
    bool exists = false;
    int rc = env_exists(fe->inner, to, &exists);
    if (rc != KV_OK || !exists)
        return rc;
    struct fault_state *st = state_find(fe, nto);
    rc = read_prefix(fe->inner, to, st ? st->synced : UINT64_MAX, &op->old_bytes, &op->old_len);
    if (rc == KV_OK)
        op->had_old = true;
    return rc;
}

static int fault_rename(struct env *env, const char *from, const char *to)
{
    struct fault_env *fe = (struct fault_env *)env;
    struct fault_op op = { .kind = FAULT_OP_RENAME, .path = env_path_normalise(to),
                           .from = env_path_normalise(from) };
    int rc = KV_ENOMEM;
    if (!op.path || !op.from) {
        op_free(&op);
        return rc;
    }
    pthread_mutex_lock(&fe->mu);
    rc = fail_check(fe);
    if (rc == KV_OK)
        rc = save_replaced(fe, to, op.path, &op);
    if (rc == KV_OK)
        rc = env_rename(fe->inner, from, to);
    if (rc != KV_OK) {
        op_free(&op);
        goto out;
    }
    struct fault_state *dst = state_find(fe, op.path);
    struct fault_state *src = state_find(fe, op.from);
    if (dst && dst != src)
        state_forget(fe, dst);
    if (src && src != dst) {
        char *p = strdup(op.path);
        if (p) {
            free(src->path);
            src->path = p;
        } else {
            state_forget(fe, src); /* out of memory: stop tracking rather than lie */
        }
    }
    rc = journal_add(fe, &op);
out:
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fault_mkdir(struct env *env, const char *path)
{
    struct fault_env *fe = (struct fault_env *)env;
    pthread_mutex_lock(&fe->mu);
    int rc = fail_check(fe);
    if (rc == KV_OK)
        rc = env_mkdir(fe->inner, path);
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

static int fault_sync_dir(struct env *env, const char *path)
{
    struct fault_env *fe = (struct fault_env *)env;
    char *norm = env_path_normalise(path);
    if (!norm)
        return KV_ENOMEM;
    pthread_mutex_lock(&fe->mu);
    int rc = fail_check(fe);
    if (rc == KV_OK)
        rc = env_sync_dir(fe->inner, path);
    if (rc == KV_OK) {
        size_t o = 0;
        for (size_t i = 0; i < fe->nops; i++) {
            if (strcmp(fe->ops[i].dir, norm) == 0)
                op_free(&fe->ops[i]);
            else
                fe->ops[o++] = fe->ops[i];
        }
        fe->nops = o;
    }
    pthread_mutex_unlock(&fe->mu);
    free(norm);
    return rc;
}

static int fault_list(struct env *env, const char *dir, char ***names, size_t *count)
{
    return env_list(((struct fault_env *)env)->inner, dir, names, count);
}

static int fault_exists(struct env *env, const char *path, bool *out)
{
    return env_exists(((struct fault_env *)env)->inner, path, out);
}

static int fault_lock(struct env *env, const char *path, struct env_file **out)
{
    /* The handle belongs to the inner env, so env_unlock goes straight there. */
    return env_lock(((struct fault_env *)env)->inner, path, out);
}

static int fault_unlock(struct env_file *lock) { return env_unlock(lock); }

/* Undoes one journal entry against the inner env; a file already gone is fine. */
static int undo_op(struct fault_env *fe, struct fault_op *op)
{
    int rc = KV_OK;
    struct fault_state *st = state_find(fe, op->path);
    if (op->kind == FAULT_OP_CREATE) {
        rc = env_remove(fe->inner, op->path);
        if (st)
            state_forget(fe, st);
        return rc == KV_ENOTFOUND ? KV_OK : rc;
    }
    rc = env_rename(fe->inner, op->path, op->from);
    if (rc == KV_OK && st) {
        char *p = strdup(op->from);
        if (!p)
            return KV_ENOMEM;
        free(st->path);
        st->path = p;
    }
    if (rc != KV_OK && rc != KV_ENOTFOUND)
        return rc;
    return op->had_old ? rewrite_file(fe->inner, op->path, op->old_bytes, op->old_len) : KV_OK;
}

/* splitmix64 step: the tear positions follow from the seed alone. */
static uint64_t tear_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Under fe->mu: cuts every tracked file back to its synced size or, when
 * tearing, to its synced size plus a random part of the unsynced bytes
 * whose last byte is garbled unless the whole tail was kept. */
static int truncate_unsynced(struct fault_env *fe)
{
    uint64_t x = fe->tear_seed;
    for (size_t i = 0; i < fe->nstates; i++) {
        struct fault_state *st = fe->states[i];
        if (st->size == st->synced)
            continue;
        uint64_t keep = st->synced;
        if (fe->tear_seed)
            keep += tear_next(&x) % (st->size - st->synced + 1);
        char *data = NULL;
        size_t len = 0;
        int rc = read_prefix(fe->inner, st->path, keep, &data, &len);
        if (rc == KV_OK && len > st->synced && len < st->size)
            data[len - 1] ^= (char)0x5a;
        if (rc == KV_OK)
            rc = rewrite_file(fe->inner, st->path, data, len);
        free(data);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

int env_fault_drop_unsynced(struct env *env)
{
    struct fault_env *fe = (struct fault_env *)env;
    int rc = KV_OK;
    pthread_mutex_lock(&fe->mu);
    __atomic_add_fetch(&fe->epoch, 1, __ATOMIC_RELEASE);
    while (fe->nops > 0 && rc == KV_OK) {
        struct fault_op *op = &fe->ops[fe->nops - 1];
        rc = undo_op(fe, op);
        op_free(op);
        fe->nops--;
    }
    if (rc == KV_OK)
        rc = truncate_unsynced(fe);
    /* Everything left on "disk" is now durable: start a fresh ledger. */
    while (fe->nstates > 0)
        state_forget(fe, fe->states[fe->nstates - 1]);
    pthread_mutex_unlock(&fe->mu);
    if (rc != KV_OK)
        log_error("env", "fault env could not drop unsynced data status=%s", kv_status_str(rc));
    return rc;
}

int env_fault_drop_unsynced_torn(struct env *env, uint64_t seed)
{
    struct fault_env *fe = (struct fault_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe->tear_seed = seed | 1; /* never 0: 0 means no tearing */
    pthread_mutex_unlock(&fe->mu);
    int rc = env_fault_drop_unsynced(env);
    pthread_mutex_lock(&fe->mu);
    fe->tear_seed = 0;
    pthread_mutex_unlock(&fe->mu);
    return rc;
}

void env_fault_fail_reads_after(struct env *env, long reads, int status)
{
    struct fault_env *fe = (struct fault_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe->read_fail_remaining = reads;
    fe->read_fail_status = status;
    pthread_mutex_unlock(&fe->mu);
}

void env_fault_fail_after(struct env *env, long ops, int status)
{
    struct fault_env *fe = (struct fault_env *)env;
    pthread_mutex_lock(&fe->mu);
    fe->fail_remaining = ops;
    fe->fail_status = status;
    pthread_mutex_unlock(&fe->mu);
}

static void fault_destroy(struct env *env)
{
    struct fault_env *fe = (struct fault_env *)env;
    while (fe->nstates > 0)
        state_forget(fe, fe->states[fe->nstates - 1]);
    for (size_t i = 0; i < fe->nops; i++)
        op_free(&fe->ops[i]);
    free(fe->states);
    free(fe->ops);
    pthread_mutex_destroy(&fe->mu);
    free(fe);
}

static const struct env_ops fault_ops = {
    .open = fault_open,
    .append = fault_append,
    .pread = fault_pread,
    .sync = fault_sync,
    .size = fault_size,
    .close = fault_close,
    .remove = fault_remove,
    .rename = fault_rename,
    .mkdir = fault_mkdir,
    .sync_dir = fault_sync_dir,
    .list = fault_list,
    .exists = fault_exists,
    .lock = fault_lock,
    .unlock = fault_unlock,
    .destroy = fault_destroy,
};

int env_fault_new(struct env *base, struct env **out)
{
    struct fault_env *fe = calloc(1, sizeof *fe);
    if (!fe)
        return KV_ENOMEM;
    if (pthread_mutex_init(&fe->mu, NULL) != 0) {
        free(fe);
        return KV_ENOMEM;
    }
    fe->base.ops = &fault_ops;
    fe->inner = base;
    fe->fail_remaining = -1;
    fe->read_fail_remaining = -1;
    *out = &fe->base;
    return KV_OK;
}
