/*
 * env_posix.c - the env over the real file system.
 *
 * Every descriptor is opened O_CLOEXEC so that a forked helper process
 * never inherits data files. Writes loop over short writes and EINTR, so
 * env_append either hands all n bytes to the kernel or fails. Reads use
 * pread, so one file may be read from several threads at once. sync is
 * fdatasync (file size and data, not mtime). Locks are flock(2) locks:
 * they belong to the open file description, so a second env_lock of the
 * same path fails with KV_EBUSY even inside the same process, and the
 * kernel drops the lock if the process dies.
 *
 * Errors map through kv_status_from_errno and are logged here, where the
 * errno (and so the reason) is still known; a missing file on open or
 * remove is an ordinary answer (KV_ENOTFOUND) and is not logged.
 */
#include "storage/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define POSIX_FILE_MODE 0644
#define POSIX_DIR_MODE 0755

struct posix_file {
    struct env_file base;
    int fd;
    bool read_only;             /* opened ENV_OPEN_READ: may be mapped */
    const char *map;            /* NULL until posix_map; unmapped at close */
    size_t map_bytes;
};

static const struct env_ops posix_ops;
static struct env posix_env = { &posix_ops };

static int posix_error(const char *what, const char *path, int err)
{
    int rc = kv_status_from_errno(err);
    if (rc != KV_ENOTFOUND)
        log_error("env", "%s failed path=%s errno=%s", what, path ? path : "-", strerror(err));
    return rc;
}

static int posix_fd_file(int fd, struct env_file **out)
{
    struct posix_file *pf = malloc(sizeof *pf);
    if (!pf) {
        close(fd);
        return KV_ENOMEM;
    }
    pf->base.env = &posix_env;
    pf->fd = fd;
    pf->read_only = false;
    pf->map = NULL;
    pf->map_bytes = 0;
    *out = &pf->base;
    return KV_OK;
}

static int posix_open(struct env *env, const char *path, enum env_open_mode mode, struct env_file **out)
{
    /* Writable files are opened read-write so that their own bytes can be
     * read back (a table builder checking what it wrote, tests). */
    int flags = O_CLOEXEC;
    switch (mode) {
    case ENV_OPEN_READ: flags |= O_RDONLY; break;
    case ENV_OPEN_TRUNCATE: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    case ENV_OPEN_APPEND: flags |= O_RDWR | O_CREAT | O_APPEND; break;
    default: return KV_EINVAL;
    }
    int fd;
    do {
        fd = open(path, flags, POSIX_FILE_MODE);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return posix_error("open", path, errno);
    int rc = posix_fd_file(fd, out);
    if (rc == KV_OK)
        ((struct posix_file *)*out)->read_only = mode == ENV_OPEN_READ;
    return rc;
}

static int posix_append(struct env_file *f, const void *data, size_t n)
{
    struct posix_file *pf = (struct posix_file *)f;
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(pf->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return posix_error("write", NULL, errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return KV_OK;
}

static int posix_pread(struct env_file *f, uint64_t off, void *buf, size_t n, size_t *nread)
{
    struct posix_file *pf = (struct posix_file *)f;
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(pf->fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return posix_error("pread", NULL, errno);
        }
        if (r == 0)
            break; /* end of file */
        got += (size_t)r;
    }
    *nread = got;
    return KV_OK;
}

static int posix_sync(struct env_file *f)
{
    struct posix_file *pf = (struct posix_file *)f;
    /* No EINTR retry: Linux does not return it for fdatasync, and after a
     * failed fsync the dirty pages may already be dropped, so a retry
     * that "succeeds" would lie. The caller must treat this as fatal. */
    if (fdatasync(pf->fd) != 0)
        return posix_error("fdatasync", NULL, errno);
    return KV_OK;
}

static int posix_size(struct env_file *f, uint64_t *out)
{
    struct posix_file *pf = (struct posix_file *)f;
    struct stat st;
    if (fstat(pf->fd, &st) != 0)
        return posix_error("fstat", NULL, errno);
    *out = (uint64_t)st.st_size;
    return KV_OK;
}

/* A shared read-only mapping of the first n bytes. Touching a mapped page
 * past the end of the file raises SIGBUS, so the file must hold n bytes
 * now (checked) and must not shrink while mapped: only files opened for
 * reading are mapped, and the engine maps only immutable tables. */
static int posix_map(struct env_file *f, uint64_t n, const char **out)
{
    struct posix_file *pf = (struct posix_file *)f;
    struct stat st;
    if (!pf->read_only || pf->map || n == 0 || n > SIZE_MAX)
        return KV_EINVAL;
    if (fstat(pf->fd, &st) != 0)
        return posix_error("fstat", NULL, errno);
    if ((uint64_t)st.st_size < n)
        return KV_ECORRUPT; /* shorter than the caller believes: read, don't map */
    void *p = mmap(NULL, (size_t)n, PROT_READ, MAP_SHARED, pf->fd, 0);
    if (p == MAP_FAILED)
        return posix_error("mmap", NULL, errno);
    pf->map = p;
    pf->map_bytes = (size_t)n;
    *out = p;
    return KV_OK;
}

static int posix_close(struct env_file *f)
{
    struct posix_file *pf = (struct posix_file *)f;
    if (pf->map && munmap((void *)pf->map, pf->map_bytes) != 0)
        log_warn("env", "munmap failed errno=%s", strerror(errno));
    /* close is not retried on EINTR: on Linux the descriptor is gone. */
    int rc = close(pf->fd) == 0 ? KV_OK : posix_error("close", NULL, errno);
    free(pf);
    return rc;
}

static int posix_remove(struct env *env, const char *path)
{
    /* remove(3): unlink for files, rmdir for (empty) directories. */
    if (remove(path) != 0)
        return posix_error("remove", path, errno);
    return KV_OK;
}

static int posix_rename(struct env *env, const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return posix_error("rename", from, errno);
    return KV_OK;
}

static int posix_mkdir(struct env *env, const char *path)
{
    if (mkdir(path, POSIX_DIR_MODE) == 0)
        return KV_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return KV_OK;
    return posix_error("mkdir", path, err);
}

static int posix_sync_dir(struct env *env, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return posix_error("open dir", path, errno);
    int rc = fsync(fd) == 0 ? KV_OK : posix_error("fsync dir", path, errno);
    close(fd);
    return rc;
}

static int posix_list(struct env *env, const char *dir, char ***names_out, size_t *count_out)
{
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = KV_OK;
    DIR *d = opendir(dir);
    if (!d)
        return posix_error("opendir", dir, errno);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = KV_ENOMEM;
                goto fail;
            }
            names = nn;
            cap = ncap;
        }
        names[count] = strdup(de->d_name);
        if (!names[count]) {
            rc = KV_ENOMEM;
            goto fail;
        }
        count++;
    }
    closedir(d);
    *names_out = names;
    *count_out = count;
    return KV_OK;
fail:
    closedir(d);
    env_free_names(names, count);
    return rc;
}

static int posix_exists(struct env *env, const char *path, bool *out)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        *out = true;
        return KV_OK;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        *out = false;
        return KV_OK;
    }
    return posix_error("stat", path, errno);
}

static int posix_lock(struct env *env, const char *path, struct env_file **out)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, POSIX_FILE_MODE);
    if (fd < 0)
        return posix_error("open lock", path, errno);
    int r;
    do {
        r = flock(fd, LOCK_EX | LOCK_NB);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return KV_EBUSY; /* an expected answer: someone else runs on this directory */
        return posix_error("flock", path, err);
    }
    return posix_fd_file(fd, out);
}

static int posix_unlock(struct env_file *lock)
{
    struct posix_file *pf = (struct posix_file *)lock;
    int rc = flock(pf->fd, LOCK_UN) == 0 ? KV_OK : posix_error("flock unlock", NULL, errno);
    int crc = posix_close(lock); /* closing drops the lock anyway */
    return rc != KV_OK ? rc : crc;
}

static void posix_destroy(struct env *env) {}

static const struct env_ops posix_ops = {
    .open = posix_open,
    .append = posix_append,
    .pread = posix_pread,
    .sync = posix_sync,
    .size = posix_size,
    .close = posix_close,
    .map = posix_map,
    .remove = posix_remove,
    .rename = posix_rename,
    .mkdir = posix_mkdir,
    .sync_dir = posix_sync_dir,
    .list = posix_list,
    .exists = posix_exists,
    .lock = posix_lock,
    .unlock = posix_unlock,
    .destroy = posix_destroy,
};

struct env *env_posix(void) { return &posix_env; }
