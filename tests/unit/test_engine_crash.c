/* test_engine_crash.c - no acknowledged write is lost when the process is
 * killed. A child process writes with ENGINE_SYNC_ALWAYS to a directory on
 * disk and reports over a pipe each write it is about to make and each one
 * engine_write acknowledged; the parent SIGKILLs it at a random moment
 * (sometimes during open and recovery), reopens the engine and checks that
 * every key holds its latest acknowledged value (or the one write that was
 * in flight at the kill). Values change every round, so a stale value from
 * an older round is caught. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "engine_testutil.h"
#include "storage/engine.h"

#define CRASH_KEYS 300
#define CRASH_ROUNDS 24
#define CRASH_VALUE_BYTES 24     /* the reported part of a value */
#define CRASH_PAD_BYTES 700      /* stored values are padded so memtables fill within a round */

enum crash_msg_kind { MSG_READY, MSG_INTENT_PUT, MSG_ACK_PUT, MSG_INTENT_DEL, MSG_ACK_DEL };

struct crash_msg {
    uint8_t kind;
    uint16_t key;
    char value[CRASH_VALUE_BYTES]; /* NUL-terminated */
};

static void crash_options(struct engine_options *o)
{
    tu_small_options(o, NULL);
    o->sync = ENGINE_SYNC_ALWAYS;
    o->memtable_bytes = 8 * 1024; /* flushes and compactions happen inside the kill window */
}

static void key_of(char *buf, unsigned k) { snprintf(buf, 16, "key%04u", k); }

/* The stored form of a reported value: id, '.', then padding. */
static size_t stored_value(char *buf, unsigned key, const char *id)
{
    size_t n = strlen(id);
    memcpy(buf, id, n);
    buf[n++] = '.';
    memset(buf + n, 'a' + (int)(key % 26), CRASH_PAD_BYTES);
    return n + CRASH_PAD_BYTES;
}

static void send_msg(int fd, enum crash_msg_kind kind, unsigned key, const char *value)
{
    struct crash_msg m;
    memset(&m, 0, sizeof m);
    m.kind = (uint8_t)kind;
    m.key = (uint16_t)key;
    if (value)
        snprintf(m.value, sizeof m.value, "%s", value);
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(3);
}

/* The child: writes until killed; never returns. */
static void child_main(const char *dir, int fd, int round)
{
    struct engine_options o;
    struct engine *e;
    struct kv_rand r;
    char k[16], v[CRASH_VALUE_BYTES], stored[CRASH_VALUE_BYTES + 1 + CRASH_PAD_BYTES];
    crash_options(&o);
    if (engine_open(dir, &o, &e) != KV_OK)
        _exit(2);
    send_msg(fd, MSG_READY, 0, NULL);
    kv_rand_seed(&r, (uint64_t)round * 7919u + 1);
    for (unsigned i = 0;; i++) {
        unsigned key = (unsigned)kv_rand_below(&r, CRASH_KEYS);
        key_of(k, key);
        if (kv_rand_below(&r, 10) == 0) {
            send_msg(fd, MSG_INTENT_DEL, key, NULL);
            if (engine_delete(e, tu_s(k)) != KV_OK)
                _exit(4);
            send_msg(fd, MSG_ACK_DEL, key, NULL);
        } else {
            snprintf(v, sizeof v, "r%d-%u", round, i);
            send_msg(fd, MSG_INTENT_PUT, key, v);
            size_t n = stored_value(stored, key, v);
            if (engine_put(e, tu_s(k), kv_slice_make(stored, n)) != KV_OK)
                _exit(4);
            send_msg(fd, MSG_ACK_PUT, key, v);
        }
    }
}

struct expect {
    char value[CRASH_KEYS][CRASH_VALUE_BYTES]; /* "" : absent */
    int pending_key;                           /* -1: none */
    char pending[CRASH_VALUE_BYTES];
};

/* Reads the child's messages until EOF (it is dead by then); returns acks. */
static unsigned collect(int fd, struct expect *x, bool *ready)
{
    struct crash_msg m;
    unsigned acks = 0;
    for (;;) {
        ssize_t n = read(fd, &m, sizeof m);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ck_assert_int_eq(n, sizeof m);
        if (m.kind == MSG_READY) {
            *ready = true;
        } else if (m.kind == MSG_INTENT_PUT || m.kind == MSG_INTENT_DEL) {
            x->pending_key = m.key;
            snprintf(x->pending, sizeof x->pending, "%s", m.kind == MSG_INTENT_PUT ? m.value : "");
        } else {
            snprintf(x->value[m.key], sizeof x->value[m.key], "%s", m.kind == MSG_ACK_PUT ? m.value : "");
            x->pending_key = -1;
            acks++;
        }
    }
    return acks;
}

/* Reopens and checks every key; adopts the in-flight write if it landed. */
static void verify(const char *dir, struct expect *x, int round)
{
    struct engine_options o;
    struct engine *e;
    struct kv_buf b = { 0 };
    char k[16];
    crash_options(&o);
    ck_assert_int_eq(engine_open(dir, &o, &e), KV_OK);
    for (unsigned i = 0; i < CRASH_KEYS; i++) {
        key_of(k, i);
        int rc = engine_get(e, NULL, tu_s(k), &b);
        ck_assert(rc == KV_OK || rc == KV_ENOTFOUND);
        char got[CRASH_VALUE_BYTES] = "", want[CRASH_VALUE_BYTES + 1 + CRASH_PAD_BYTES];
        if (rc == KV_OK) {
            const char *dot = memchr(b.data, '.', b.len);
            ck_assert_ptr_nonnull(dot);
            ck_assert_uint_lt((size_t)(dot - b.data), sizeof got);
            memcpy(got, b.data, (size_t)(dot - b.data));
            got[dot - b.data] = 0;
            size_t n = stored_value(want, i, got);
            ck_assert_msg(n == b.len && memcmp(want, b.data, n) == 0, "round %d: %s has a damaged value", round, k);
        }
        bool ok = strcmp(got, x->value[i]) == 0 || ((int)i == x->pending_key && strcmp(got, x->pending) == 0);
        ck_assert_msg(ok, "round %d: %s = \"%s\", acknowledged \"%s\"", round, k, got, x->value[i]);
        snprintf(x->value[i], sizeof x->value[i], "%s", got);
    }
    x->pending_key = -1;
    kv_buf_free(&b);
    ck_assert_int_eq(engine_close(e), KV_OK);
}

START_TEST(killed_writer_loses_no_acknowledged_write)
{
    char *dir = tu_tmpdir();
    struct expect *x = calloc(1, sizeof *x);
    struct kv_rand r;
    unsigned total_acks = 0;
    x->pending_key = -1;
    kv_rand_seed(&r, 2024);
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, fds[1], round);
        }
        close(fds[1]);
        /* Most rounds die while writing; every fourth one as early as during recovery. */
        uint64_t delay_us = round % 4 == 3 ? kv_rand_below(&r, 3000) : 30000 + kv_rand_below(&r, 170000);
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
        bool ready = false;
        total_acks += collect(fds[0], x, &ready);
        close(fds[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: child exited by itself (%d)", round,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        verify(dir, x, round);
    }
    ck_assert_uint_gt(total_acks, CRASH_ROUNDS); /* the kills really interrupted writes */
    free(x);
    tu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_crash");
    TCase *tc = tcase_create("engine_crash");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, killed_writer_loses_no_acknowledged_write);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
