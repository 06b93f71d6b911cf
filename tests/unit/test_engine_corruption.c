/* test_engine_corruption.c - damaged files never crash the engine and
 * never yield wrong data. A byte is flipped at several offsets of each
 * kind of file (WAL, table, manifest, CURRENT) of a closed engine; then
 * open fails with KV_ECORRUPT, or it succeeds and every read returns the
 * right value or KV_ECORRUPT. The only data allowed to vanish is the tail
 * of the last log, under the WAL torn-tail policy. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "engine_testutil.h"
#include "storage/engine.h"
#include "storage/env.h"
#include "storage/filename.h"

#define OLD_KEYS 600   /* "k%04u", flushed to tables */
#define NEW_KEYS 60    /* "w%04u", only in the log */

enum damaged { DAMAGE_LOG, DAMAGE_TABLE, DAMAGE_MANIFEST, DAMAGE_CURRENT };

static const char *damaged_name[] = { "log", "table", "manifest", "CURRENT" };

static void build(struct env *env)
{
    struct engine_options o;
    struct engine *e;
    char k[16], v[32];
    tu_small_options(&o, env);
    ck_assert_int_eq(engine_open("/db", &o, &e), KV_OK);
    for (unsigned i = 0; i < OLD_KEYS; i++) {
        snprintf(k, sizeof k, "k%04u", i * 7 % OLD_KEYS);
        snprintf(v, sizeof v, "v%u", i * 7 % OLD_KEYS);
        tu_put(e, k, v);
        if (i % 150 == 149) /* several overlapping tables, and compactions of them */
            ck_assert_int_eq(engine_flush(e), KV_OK);
    }
    for (unsigned i = 0; i < NEW_KEYS; i++) {
        snprintf(k, sizeof k, "w%04u", i);
        snprintf(v, sizeof v, "w%u", i);
        tu_put(e, k, v);
    }
    ck_assert_int_eq(engine_close(e), KV_OK);
}

/* The path of the file of that kind; for tables, the `which`-th one. */
static bool pick_file(struct env *env, enum damaged kind, size_t which, char *path)
{
    char **names;
    size_t n, seen = 0;
    bool found = false;
    ck_assert_int_eq(env_list(env, "/db", &names, &n), KV_OK);
    for (size_t i = 0; i < n && !found; i++) {
        enum filename_kind fk;
        uint64_t number;
        if (!filename_parse(names[i], &fk, &number))
            continue;
        bool match = (kind == DAMAGE_LOG && fk == FILENAME_LOG) || (kind == DAMAGE_MANIFEST && fk == FILENAME_MANIFEST) ||
                     (kind == DAMAGE_CURRENT && fk == FILENAME_CURRENT_FILE) ||
                     (kind == DAMAGE_TABLE && fk == FILENAME_TABLE && seen++ == which);
        if (match) {
            snprintf(path, FILENAME_PATH_BYTES_MAX, "/db/%s", names[i]);
            found = true;
        }
    }
    env_free_names(names, n);
    return found;
}

/* XORs one byte at off (modulo the size; negative: from the end); false if the file is empty. */
static bool flip(struct env *env, const char *path, int64_t off)
{
    char *data;
    size_t len;
    struct env_file *f;
    ck_assert_int_eq(env_read_all(env, path, &data, &len), KV_OK);
    if (len == 0) {
        free(data);
        return false;
    }
    size_t at = off >= 0 ? (size_t)off % len : len - (size_t)(-off) % len - 1;
    data[at] ^= 0x5a;
    ck_assert_int_eq(env_open(env, path, ENV_OPEN_TRUNCATE, &f), KV_OK);
    ck_assert_int_eq(env_append(f, data, len), KV_OK);
    ck_assert_int_eq(env_close(f), KV_OK);
    free(data);
    return true;
}

/* Reads every key by get and by a scan; checks the rules above. */
static void check_reads(struct engine *e, enum damaged kind, const char *what)
{
    struct kv_buf b = { 0 };
    char k[16], v[32];
    bool any_corrupt = false;
    for (unsigned i = 0; i < OLD_KEYS + NEW_KEYS; i++) {
        bool old = i < OLD_KEYS;
        snprintf(k, sizeof k, old ? "k%04u" : "w%04u", old ? i : i - OLD_KEYS);
        snprintf(v, sizeof v, old ? "v%u" : "w%u", old ? i : i - OLD_KEYS);
        int rc = engine_get(e, NULL, tu_s(k), &b);
        if (rc == KV_OK)
            ck_assert_msg(kv_slice_eq(kv_slice_make(b.data, b.len), tu_s(v)), "%s: %s has a wrong value", what, k);
        else if (rc == KV_ECORRUPT)
            any_corrupt = true;
        else
            ck_assert_msg(rc == KV_ENOTFOUND && !old && kind == DAMAGE_LOG, "%s: get %s = %s", what, k,
                          kv_status_str(rc));
    }
    kv_buf_free(&b);
    struct engine_iter *it;
    unsigned seen = 0;
    ck_assert_int_eq(engine_iter_new(e, NULL, &it), KV_OK);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), seen++) {
        struct kv_slice key = engine_iter_key(it), val = engine_iter_value(it);
        ck_assert_msg(key.len == 5 && val.len >= 2 && val.data[0] == (key.data[0] == 'k' ? 'v' : 'w') &&
                          atoi(key.data + 1) == atoi(val.data + 1),
                      "%s: scan returned a wrong pair", what);
    }
    int rc = engine_iter_status(it);
    engine_iter_free(it);
    ck_assert_msg(rc == KV_OK || rc == KV_ECORRUPT, "%s: scan status %s", what, kv_status_str(rc));
    if (rc == KV_OK && !any_corrupt && kind != DAMAGE_LOG)
        ck_assert_msg(seen == OLD_KEYS + NEW_KEYS, "%s: scan saw %u keys", what, seen);
}

static void damage_and_check(enum damaged kind, size_t which, int64_t off)
{
    struct env *env;
    char path[FILENAME_PATH_BYTES_MAX], what[FILENAME_PATH_BYTES_MAX + 64];
    ck_assert_int_eq(env_mem_new(&env), KV_OK);
    build(env);
    if (!pick_file(env, kind, which, path) || !flip(env, path, off)) {
        env_destroy(env);
        return;
    }
    snprintf(what, sizeof what, "%s %s offset %lld", damaged_name[kind], path, (long long)off);
    struct engine_options o;
    struct engine *e = NULL;
    tu_small_options(&o, env);
    int rc = engine_open("/db", &o, &e);
    if (rc == KV_OK) {
        check_reads(e, kind, what);
        /* A compaction that read the damaged table stopped the engine. */
        rc = engine_close(e);
        ck_assert_msg(rc == KV_OK || rc == KV_ECORRUPT, "%s: close returned %s", what, kv_status_str(rc));
    } else {
        ck_assert_msg(rc == KV_ECORRUPT, "%s: open returned %s", what, kv_status_str(rc));
    }
    env_destroy(env);
}

static const int64_t offsets[] = { 0, 1, 4, 6, 7, 8, 12, 20, 33, 100, 257, 1000, 4099, 32767, 32768 };

START_TEST(flipped_bytes_are_detected_in_every_file_kind)
{
    enum damaged kind = (enum damaged)_i;
    size_t tables = kind == DAMAGE_TABLE ? 4 : 1;
    struct kv_rand r;
    kv_rand_seed(&r, 77 + (uint64_t)_i);
    for (size_t t = 0; t < tables; t++) {
        for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
            damage_and_check(kind, t, offsets[i]);
        /* From the end backwards (footers, last records), then anywhere. */
        for (int64_t back = 1; back <= 80; back += 7)
            damage_and_check(kind, t, -back);
        for (int i = 0; i < 10; i++)
            damage_and_check(kind, t, (int64_t)(kv_rand_next(&r) >> 2));
    }
}
END_TEST

START_TEST(missing_files_are_corrupt)
{
    const enum damaged kinds[] = { DAMAGE_TABLE, DAMAGE_MANIFEST, DAMAGE_LOG };
    for (size_t i = 0; i < 3; i++) {
        struct env *env;
        char path[FILENAME_PATH_BYTES_MAX];
        ck_assert_int_eq(env_mem_new(&env), KV_OK);
        build(env);
        ck_assert(pick_file(env, kinds[i], 0, path));
        ck_assert_int_eq(env_remove(env, path), KV_OK);
        struct engine_options o;
        struct engine *e = NULL;
        tu_small_options(&o, env);
        ck_assert_msg(engine_open("/db", &o, &e) == KV_ECORRUPT, "%s removed", damaged_name[kinds[i]]);
        env_destroy(env);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_corruption");
    TCase *tc = tcase_create("engine_corruption");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, flipped_bytes_are_detected_in_every_file_kind, DAMAGE_LOG, DAMAGE_CURRENT + 1);
    tcase_add_test(tc, missing_files_are_corrupt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
