/*
 * fuzz_config.c - libFuzzer over kvnode's configuration parsing
 * (node/config.h): the config file, the environment and the flags.
 * Byte 0 even: the rest is a config file (written to a memfd and loaded
 * with --config /proc/self/fd/N); odd: the rest, split at NUL bytes, is
 * argv[1..] (at most 32 words) and, after a second NUL NUL, envp.
 * Invariant (abort on violation): a refusal comes with a message; a
 * loaded config passes its own checks (a node id is set).
 * Seeds: tests/fuzz/corpus/config/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WORDS_MAX 32

static struct node_config g_cfg;  /* ~50 KiB: not on the stack */

static void check_load(int argc, char **argv, char **envp)
{
    struct kv_buf err = { 0 };
    enum node_config_action action;
    int rc = node_config_load(&g_cfg, argc, argv, envp, &action, &err);
    if (rc != KV_OK && (err.len == 0 || err.data == NULL))
        abort();
    if (rc == KV_OK && action == NODE_CONFIG_RUN && g_cfg.node_id[0] == 0)
        abort();
    kv_buf_free(&err);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0)
        return;
    if (size == 0 || write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char *argv[] = { "kvnode", "--config", path, NULL };
        check_load(3, argv, NULL);
    }
    close(fd);
}

static void fuzz_words(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return;
    memcpy(copy, data, size);
    copy[size] = 0;
    char *argv[FUZZ_WORDS_MAX + 2] = { "kvnode" };
    char *envp[FUZZ_WORDS_MAX + 1] = { NULL };
    int argc = 1, envc = 0;
    bool in_env = false;
    for (size_t i = 0; i < size;) {
        char *w = copy + i;
        size_t n = strlen(w);
        /* Another config file would be a file name the fuzzer picks:
         * /dev/zero or a FIFO would block the run, not find a bug here. */
        if (strstr(w, "config") != NULL || strstr(w, "CONFIG") != NULL)
            ;
        else if (n == 0)
            in_env = true;
        else if (in_env && envc < FUZZ_WORDS_MAX)
            envp[envc++] = w;
        else if (!in_env && argc <= FUZZ_WORDS_MAX)
            argv[argc++] = w;
        i += n + 1;
    }
    argv[argc] = NULL;
    envp[envc] = NULL;
    check_load(argc, argv, envp);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_words(data + 1, size - 1);
    else
        fuzz_file(data + 1, size - 1);
    return 0;
}
