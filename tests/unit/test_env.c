/* test_env.c - the POSIX, in-memory and fault-injecting envs, and env.c helpers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/env.h"

#define OK(expr) ck_assert_int_eq((expr), KV_OK)

enum env_kind { ENV_KIND_POSIX, ENV_KIND_MEM, ENV_KIND_FAULT };

/* One env under test, rooted at dir (a fresh mkdtemp for POSIX). */
struct fixture {
    struct env *env;
    struct env *mem; /* base of the fault env */
    char dir[64];
};

static void rm_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void fixture_open(struct fixture *fx, enum env_kind kind)
{
    memset(fx, 0, sizeof *fx);
    if (kind == ENV_KIND_POSIX) {
        strcpy(fx->dir, "/tmp/ringkv_env_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(fx->dir));
        fx->env = env_posix();
        return;
    }
    strcpy(fx->dir, "/db");
    OK(env_mem_new(&fx->mem));
    OK(env_mkdir(fx->mem, fx->dir));
    if (kind == ENV_KIND_MEM) {
        fx->env = fx->mem;
        fx->mem = NULL;
    } else {
        OK(env_fault_new(fx->mem, &fx->env));
    }
}

static void fixture_close(struct fixture *fx)
{
    if (fx->env == env_posix()) {
        rm_tree(fx->dir);
        return;
    }
    env_destroy(fx->env);
    env_destroy(fx->mem);
}

static void path_of(const struct fixture *fx, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", fx->dir, name);
}

static void write_file(struct env *e, const char *path, const char *text, bool sync)
{
    struct env_file *f;
    OK(env_open(e, path, ENV_OPEN_TRUNCATE, &f));
    OK(env_append(f, text, strlen(text)));
    if (sync)
        OK(env_sync(f));
    OK(env_close(f));
}

/* The file's content as a NUL-terminated string (caller frees), or NULL if missing. */
static char *read_file(struct env *e, const char *path)
{
    char *data;
    size_t len;
    int rc = env_read_all(e, path, &data, &len);
    if (rc == KV_ENOTFOUND)
        return NULL;
    OK(rc);
    ck_assert_uint_eq(strlen(data), len);
    return data;
}

static bool exists(struct env *e, const char *path)
{
    bool b = false;
    OK(env_exists(e, path, &b));
    return b;
}

static void check_file_io(struct fixture *fx)
{
    char p[128];
    path_of(fx, "a", p, sizeof p);
    struct env_file *f;
    ck_assert_int_eq(env_open(fx->env, p, ENV_OPEN_READ, &f), KV_ENOTFOUND);
    OK(env_open(fx->env, p, ENV_OPEN_TRUNCATE, &f));
    OK(env_append(f, "hello ", 6));
    OK(env_append(f, "", 0));
    OK(env_append(f, "world", 5));
    OK(env_sync(f));
    uint64_t size = 0;
    OK(env_size(f, &size));
    ck_assert_uint_eq(size, 11);
    OK(env_close(f));

    OK(env_open(fx->env, p, ENV_OPEN_APPEND, &f));
    OK(env_append(f, "!", 1));
    OK(env_close(f));

    OK(env_open(fx->env, p, ENV_OPEN_READ, &f));
    char buf[32];
    size_t n = 0;
    OK(env_pread(f, 6, buf, 5, &n));
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(buf, "world", 5) == 0);
    OK(env_pread(f, 6, buf, sizeof buf, &n)); /* short read only at end of file */
    ck_assert_uint_eq(n, 6);
    OK(env_pread(f, 100, buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 0);
    OK(env_close(f));

    OK(env_open(fx->env, p, ENV_OPEN_TRUNCATE, &f));
    OK(env_size(f, &size));
    ck_assert_uint_eq(size, 0);
    OK(env_close(f));
    OK(env_remove(fx->env, p));
}

static void check_names(struct fixture *fx)
{
    char a[128], b[128], sub[128];
    path_of(fx, "x", a, sizeof a);
    path_of(fx, "y", b, sizeof b);
    path_of(fx, "sub", sub, sizeof sub);
    write_file(fx->env, a, "1", true);
    write_file(fx->env, b, "2", true);
    OK(env_mkdir(fx->env, sub));
    OK(env_mkdir(fx->env, sub)); /* already there: fine */
    ck_assert(exists(fx->env, sub));

    /* rename replaces the target atomically */
    OK(env_rename(fx->env, a, b));
    ck_assert(!exists(fx->env, a));
    char *s = read_file(fx->env, b);
    ck_assert_str_eq(s, "1");
    free(s);
    ck_assert_int_eq(env_rename(fx->env, a, b), KV_ENOTFOUND);

    char **names;
    size_t count;
    OK(env_list(fx->env, fx->dir, &names, &count));
    ck_assert_uint_eq(count, 2);
    bool saw_y = false, saw_sub = false;
    for (size_t i = 0; i < count; i++) {
        saw_y |= strcmp(names[i], "y") == 0;
        saw_sub |= strcmp(names[i], "sub") == 0;
    }
    ck_assert(saw_y && saw_sub);
    env_free_names(names, count);

    OK(env_remove(fx->env, b));
    ck_assert_int_eq(env_remove(fx->env, b), KV_ENOTFOUND);
    OK(env_remove(fx->env, sub));
    OK(env_list(fx->env, fx->dir, &names, &count));
    ck_assert_uint_eq(count, 0);
    env_free_names(names, count);
    OK(env_sync_dir(fx->env, fx->dir));
}

static void check_lock(struct fixture *fx)
{
    char p[128];
    path_of(fx, "LOCK", p, sizeof p);
    struct env_file *l1, *l2;
    OK(env_lock(fx->env, p, &l1));
    ck_assert_int_eq(env_lock(fx->env, p, &l2), KV_EBUSY);
    OK(env_unlock(l1));
    OK(env_lock(fx->env, p, &l2));
    OK(env_unlock(l2));
}

static void check_helpers(struct fixture *fx)
{
    char p[128];
    OK(env_write_atomic(fx->env, fx->dir, "CURRENT", "MANIFEST-000001\n", 16));
    OK(env_write_atomic(fx->env, fx->dir, "CURRENT", "MANIFEST-000002\n", 16));
    path_of(fx, "CURRENT", p, sizeof p);
    char *s = read_file(fx->env, p);
    ck_assert_str_eq(s, "MANIFEST-000002\n");
    free(s);
    path_of(fx, "CURRENT.tmp", p, sizeof p);
    ck_assert(!exists(fx->env, p));
    OK(env_write_atomic(fx->env, fx->dir, "EMPTY", "", 0));
    path_of(fx, "EMPTY", p, sizeof p);
    s = read_file(fx->env, p);
    ck_assert_str_eq(s, "");
    free(s);
}

static void run_common(enum env_kind kind)
{
    struct fixture fx;
    fixture_open(&fx, kind);
    check_file_io(&fx);
    check_names(&fx);
    check_lock(&fx);
    check_helpers(&fx);
    fixture_close(&fx);
}

START_TEST(posix_env_files_names_and_locks) { run_common(ENV_KIND_POSIX); }
END_TEST

START_TEST(mem_env_files_names_and_locks) { run_common(ENV_KIND_MEM); }
END_TEST

START_TEST(fault_env_passes_through_when_no_fault) { run_common(ENV_KIND_FAULT); }
END_TEST

START_TEST(posix_lock_held_elsewhere_is_busy)
{
    /* Another process (a forked child) cannot take the lock while we hold it. */
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_POSIX);
    char p[128];
    path_of(&fx, "LOCK", p, sizeof p);
    struct env_file *l;
    OK(env_lock(fx.env, p, &l));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct env_file *l2;
        _exit(env_lock(env_posix(), p, &l2) == KV_EBUSY ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    OK(env_unlock(l));
    fixture_close(&fx);
}
END_TEST

START_TEST(mem_env_has_directory_semantics)
{
    struct env *e;
    OK(env_mem_new(&e));
    struct env_file *f;
    ck_assert_int_eq(env_open(e, "/nodir/x", ENV_OPEN_TRUNCATE, &f), KV_ENOTFOUND);
    ck_assert_int_eq(env_mkdir(e, "/a/b"), KV_ENOTFOUND);
    OK(env_mkdir(e, "/a"));
    OK(env_mkdir(e, "/a/b/"));
    write_file(e, "/a//b/f", "data", false);
    ck_assert(exists(e, "/a/b/./f"));
    ck_assert_int_ne(env_remove(e, "/a/b"), KV_OK); /* not empty */
    char **names;
    size_t count;
    OK(env_list(e, "/a", &names, &count));
    ck_assert_uint_eq(count, 1);
    ck_assert_str_eq(names[0], "b");
    env_free_names(names, count);
    ck_assert_int_eq(env_list(e, "/zzz", &names, &count), KV_ENOTFOUND);

    /* An open handle keeps its bytes after the name is removed, like an inode. */
    OK(env_open(e, "/a/b/f", ENV_OPEN_READ, &f));
    OK(env_remove(e, "/a/b/f"));
    char buf[8];
    size_t n;
    OK(env_pread(f, 0, buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 4);
    OK(env_close(f));
    OK(env_remove(e, "/a/b"));
    env_destroy(e);
}
END_TEST

START_TEST(fault_drop_loses_exactly_unsynced_bytes)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_FAULT);
    struct env_file *f;
    OK(env_open(fx.env, "/db/log", ENV_OPEN_TRUNCATE, &f));
    OK(env_sync_dir(fx.env, "/db")); /* the file's name is durable */
    OK(env_append(f, "synced;", 7));
    OK(env_sync(f));
    OK(env_append(f, "lost", 4));
    OK(env_close(f));
    /* A file that existed before the fault env saw it counts as synced. */
    write_file(fx.mem, "/db/old", "old", false);
    OK(env_open(fx.env, "/db/old", ENV_OPEN_APPEND, &f));
    OK(env_append(f, "+new", 4));

    OK(env_fault_drop_unsynced(fx.env));
    char *s = read_file(fx.env, "/db/log");
    ck_assert_str_eq(s, "synced;");
    free(s);
    s = read_file(fx.env, "/db/old");
    ck_assert_str_eq(s, "old");
    free(s);
    /* The handle of the "crashed process" is dead. */
    ck_assert_int_eq(env_append(f, "x", 1), KV_EIO);
    OK(env_close(f));
    fixture_close(&fx);
}
END_TEST

START_TEST(fault_drop_undoes_unsynced_creates_and_renames)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_FAULT);
    write_file(fx.env, "/db/durable", "d", true);
    OK(env_sync_dir(fx.env, "/db"));
    write_file(fx.env, "/db/new", "n", true); /* data synced, name not */
    write_file(fx.env, "/db/CURRENT", "v1", true);
    OK(env_sync_dir(fx.env, "/db"));
    write_file(fx.env, "/db/CURRENT.tmp", "v2", true);
    OK(env_rename(fx.env, "/db/CURRENT.tmp", "/db/CURRENT"));
    write_file(fx.env, "/db/after", "a", true);

    OK(env_fault_drop_unsynced(fx.env));
    ck_assert(exists(fx.env, "/db/durable"));
    ck_assert(exists(fx.env, "/db/new")); /* its create was made durable by the sync_dir */
    ck_assert(!exists(fx.env, "/db/after"));
    ck_assert(!exists(fx.env, "/db/CURRENT.tmp")); /* the rename went back, then the create */
    char *s = read_file(fx.env, "/db/CURRENT");
    ck_assert_str_eq(s, "v1");
    free(s);

    /* The same steps with the directory synced at the end all survive. */
    OK(env_write_atomic(fx.env, "/db", "CURRENT", "v3", 2));
    OK(env_fault_drop_unsynced(fx.env));
    s = read_file(fx.env, "/db/CURRENT");
    ck_assert_str_eq(s, "v3");
    free(s);
    fixture_close(&fx);
}
END_TEST

START_TEST(fault_drop_keeps_removes)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_FAULT);
    write_file(fx.env, "/db/f", "x", true);
    OK(env_remove(fx.env, "/db/f"));
    write_file(fx.env, "/db/g", "y", true);
    OK(env_sync_dir(fx.env, "/db"));
    OK(env_remove(fx.env, "/db/g"));
    OK(env_fault_drop_unsynced(fx.env));
    ck_assert(!exists(fx.env, "/db/f"));
    ck_assert(!exists(fx.env, "/db/g"));
    fixture_close(&fx);
}
END_TEST

START_TEST(fault_fail_after_fails_the_next_mutating_call)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_FAULT);
    struct env_file *f;
    OK(env_open(fx.env, "/db/f", ENV_OPEN_TRUNCATE, &f));
    env_fault_fail_after(fx.env, 2, KV_ENOSPC);
    OK(env_append(f, "a", 1));
    OK(env_sync(f));
    ck_assert_int_eq(env_append(f, "b", 1), KV_ENOSPC);
    ck_assert_int_eq(env_sync(f), KV_ENOSPC);
    ck_assert_int_eq(env_rename(fx.env, "/db/f", "/db/g"), KV_ENOSPC);
    ck_assert_int_eq(env_sync_dir(fx.env, "/db"), KV_ENOSPC);
    struct env_file *g;
    ck_assert_int_eq(env_open(fx.env, "/db/h", ENV_OPEN_APPEND, &g), KV_ENOSPC);
    ck_assert(!exists(fx.env, "/db/h")); /* a refused call does nothing */
    /* Reads are not mutating calls. */
    uint64_t size;
    OK(env_size(f, &size));
    ck_assert_uint_eq(size, 1);
    env_fault_fail_after(fx.env, -1, 0);
    OK(env_append(f, "c", 1));
    OK(env_close(f));
    char *s = read_file(fx.env, "/db/f");
    ck_assert_str_eq(s, "ac");
    free(s);
    env_fault_fail_after(fx.env, 0, KV_EIO);
    ck_assert_int_eq(env_remove(fx.env, "/db/f"), KV_EIO);
    env_fault_fail_after(fx.env, -1, 0);
    fixture_close(&fx);
}
END_TEST

START_TEST(fault_env_over_posix_drops_unsynced_bytes)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_POSIX);
    struct env *fe;
    OK(env_fault_new(fx.env, &fe));
    char p[128];
    path_of(&fx, "log", p, sizeof p);
    struct env_file *f;
    OK(env_open(fe, p, ENV_OPEN_TRUNCATE, &f));
    OK(env_append(f, "abc", 3));
    OK(env_sync(f));
    OK(env_sync_dir(fe, fx.dir));
    OK(env_append(f, "def", 3));
    OK(env_close(f));
    OK(env_fault_drop_unsynced(fe));
    char *s = read_file(fe, p);
    ck_assert_str_eq(s, "abc");
    free(s);
    env_destroy(fe);
    fixture_close(&fx);
}
END_TEST

START_TEST(fault_torn_drop_keeps_a_garbled_prefix_of_the_unsynced_tail)
{
    /* Over many seeds: synced bytes always stay; the unsynced tail is
     * kept whole, dropped, or cut with its last kept byte garbled, and
     * every outcome happens. */
    bool saw_none = false, saw_all = false, saw_torn = false;
    for (uint64_t seed = 1; seed <= 64; seed++) {
        struct fixture fx;
        fixture_open(&fx, ENV_KIND_FAULT);
        struct env_file *f;
        OK(env_open(fx.env, "/db/log", ENV_OPEN_TRUNCATE, &f));
        OK(env_sync_dir(fx.env, "/db"));
        OK(env_append(f, "0123", 4));
        OK(env_sync(f));
        OK(env_append(f, "abcdefgh", 8));
        OK(env_close(f));
        OK(env_fault_drop_unsynced_torn(fx.env, seed));
        char *got = read_file(fx.env, "/db/log");
        size_t n = strlen(got);
        ck_assert_uint_ge(n, 4);
        ck_assert_uint_le(n, 12);
        ck_assert_int_eq(memcmp(got, "0123abcdefgh", n > 4 ? 4 : n), 0);
        if (n == 4) {
            saw_none = true;
        } else if (n == 12) {
            ck_assert_str_eq(got, "0123abcdefgh");
            saw_all = true;
        } else {
            ck_assert_int_eq(memcmp(got, "0123abcdefgh", n - 1), 0);
            ck_assert_int_ne(got[n - 1], "0123abcdefgh"[n - 1]);
            saw_torn = true;
        }
        free(got);
        fixture_close(&fx);
    }
    ck_assert(saw_none && saw_all && saw_torn);
}
END_TEST

START_TEST(fault_fail_reads_after_fails_reads_until_reset)
{
    struct fixture fx;
    fixture_open(&fx, ENV_KIND_FAULT);
    write_file(fx.env, "/db/f", "data", true);
    struct env_file *f;
    OK(env_open(fx.env, "/db/f", ENV_OPEN_READ, &f));
    char buf[8];
    size_t nread;
    env_fault_fail_reads_after(fx.env, 1, KV_EIO);
    OK(env_pread(f, 0, buf, 4, &nread));
    ck_assert_int_eq(env_pread(f, 0, buf, 4, &nread), KV_EIO);
    ck_assert_int_eq(env_pread(f, 0, buf, 4, &nread), KV_EIO);
    env_fault_fail_reads_after(fx.env, -1, 0);
    OK(env_pread(f, 0, buf, 4, &nread));
    ck_assert_uint_eq(nread, 4);
    ck_assert_int_eq(memcmp(buf, "data", 4), 0); /* the data was never touched */
    OK(env_close(f));
    fixture_close(&fx);
}
END_TEST

START_TEST(path_normalise_collapses_slashes)
{
    const char *cases[][2] = { { "a//b/", "a/b" }, { "", "." }, { "./a", "a" }, { "/", "/" },
                               { "//x/./y", "/x/y" }, { ".", "." } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = env_path_normalise(cases[i][0]);
        ck_assert_str_eq(n, cases[i][1]);
        free(n);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("env");
    tcase_add_test(tc, posix_env_files_names_and_locks);
    tcase_add_test(tc, mem_env_files_names_and_locks);
    tcase_add_test(tc, fault_env_passes_through_when_no_fault);
    tcase_add_test(tc, posix_lock_held_elsewhere_is_busy);
    tcase_add_test(tc, mem_env_has_directory_semantics);
    tcase_add_test(tc, fault_drop_loses_exactly_unsynced_bytes);
    tcase_add_test(tc, fault_drop_undoes_unsynced_creates_and_renames);
    tcase_add_test(tc, fault_drop_keeps_removes);
    tcase_add_test(tc, fault_fail_after_fails_the_next_mutating_call);
    tcase_add_test(tc, fault_env_over_posix_drops_unsynced_bytes);
    tcase_add_test(tc, fault_torn_drop_keeps_a_garbled_prefix_of_the_unsynced_tail);
    tcase_add_test(tc, fault_fail_reads_after_fails_reads_until_reset);
    tcase_add_test(tc, path_normalise_collapses_slashes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
