/* state_file.c - see state_file.h. */
#include "node/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define STATE_FILE_PATH_BYTES_MAX 4352 /* a data dir (4096) + "/cluster/" + a name */
#define STATE_FILE_NEW_SUFFIX ".new"

static int path_join(char *out, size_t cap, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(out, cap, "%s/%s%s", dir, name, suffix);
    return n > 0 && (size_t)n < cap ? KV_OK : KV_EINVAL;
}

int state_file_dir(const char *data_dir, char *out, size_t cap)
{
    if (path_join(out, cap, data_dir, STATE_FILE_DIR, "") != KV_OK)
        return KV_EINVAL;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        log_error("node", "cannot create state dir dir=%s error=\"%s\"", out, strerror(errno));
        return KV_EIO;
    }
    return KV_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int state_file_write(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[STATE_FILE_PATH_BYTES_MAX], path[STATE_FILE_PATH_BYTES_MAX];
    if (len > STATE_FILE_BYTES_MAX)
        return KV_ETOOBIG;
    if (path_join(tmp, sizeof tmp, dir, name, STATE_FILE_NEW_SUFFIX) != KV_OK ||
        path_join(path, sizeof path, dir, name, "") != KV_OK)
        return KV_EINVAL;
    const char *step = "open";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    step = "write";
    if (write_all(fd, data, len) != 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto fail;
    step = "rename";
    if (rename(tmp, path) != 0)
        goto fail;
    step = "fsync dir";
    if (fsync_dir(dir) != 0)
        goto fail;
    return KV_OK;
fail:
    log_error("node", "cannot write state file path=%s step=\"%s\" error=\"%s\"", path, step,
              strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return KV_EIO;
}

int state_file_read(const char *dir, const char *name, struct kv_buf *out)
{
    char path[STATE_FILE_PATH_BYTES_MAX];
    if (path_join(path, sizeof path, dir, name, "") != KV_OK)
        return KV_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return KV_ENOTFOUND;
        log_error("node", "cannot open state file path=%s error=\"%s\"", path, strerror(errno));
        return KV_EIO;
    }
    int rc = KV_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = KV_EIO;
    } else if ((uint64_t)st.st_size > STATE_FILE_BYTES_MAX) {
        rc = KV_ETOOBIG;
    } else {
        kv_buf_reset(out);
        rc = kv_buf_reserve(out, (size_t)st.st_size);
        if (rc == KV_OK)
            out->data[0] = 0;  /* an empty file still reads as "" (found by fuzz_state) */
        while (rc == KV_OK) {
            char chunk[4096];
            ssize_t n = read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                rc = KV_EIO;
            else if (n == 0)
                break;
            else if (out->len + (size_t)n > STATE_FILE_BYTES_MAX)
                rc = KV_ETOOBIG;
            else
                rc = kv_buf_append(out, chunk, (size_t)n);
        }
    }
    if (rc == KV_EIO)
        log_error("node", "cannot read state file path=%s error=\"%s\"", path, strerror(errno));
    close(fd);
    return rc;
}

int state_file_remove(const char *dir, const char *name)
{
    char path[STATE_FILE_PATH_BYTES_MAX];
    if (path_join(path, sizeof path, dir, name, "") != KV_OK)
        return KV_EINVAL;
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("node", "cannot remove state file path=%s error=\"%s\"", path, strerror(errno));
        return KV_EIO;
    }
    return fsync_dir(dir) == 0 ? KV_OK : KV_EIO;
}
