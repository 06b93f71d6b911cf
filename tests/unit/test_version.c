/* test_version.c - version edits and the manifest: encoding round trips,
 * recovery, the torn-tail policy, corruption, and level queries. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "storage/filename.h"
#include "storage/ikey.h"
#include "storage/version.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* A file over user keys [lo, hi] (hi_sentinel: hi is a tombstone end). */
static struct file_meta *file(uint64_t number, const char *lo, const char *hi, bool hi_sentinel)
{
    char a[64], b[64];
    size_t na = ikey_encode(a, lo, strlen(lo), 5, IKEY_TYPE_VALUE);
    size_t nb = hi_sentinel ? ikey_encode(b, hi, strlen(hi), KV_SEQ_MAX, IKEY_TYPE_RANGE_DELETE)
                            : ikey_encode(b, hi, strlen(hi), 5, IKEY_TYPE_VALUE);
    struct file_meta *f;
    ck_assert_int_eq(file_meta_new(number, 1000 + number, kv_slice_make(a, na), kv_slice_make(b, nb),
                                   hi_sentinel ? 1 : 0, &f), KV_OK);
    return f;
}

static void add(struct version_edit *e, int level, struct file_meta *f)
{
    ck_assert_int_eq(version_edit_add_file(e, level, f), KV_OK);
    file_meta_unref(f);
}

START_TEST(edit_round_trips_through_its_encoding)
{
    struct version_edit e, d;
    struct kv_buf buf = { 0 };
    version_edit_init(&e);
    version_edit_set_log_number(&e, 12);
    version_edit_set_next_file_number(&e, 99);
    version_edit_set_last_seq(&e, 123456789);
    char ptr[16];
    ikey_encode(ptr, "pointer", 7, 3, IKEY_TYPE_VALUE);
    ck_assert_int_eq(version_edit_set_compact_pointer(&e, 2, kv_slice_make(ptr, 15)), KV_OK);
    ck_assert_int_eq(version_edit_delete_file(&e, 1, 40), KV_OK);
    add(&e, 3, file(41, "a", "m", true));
    ck_assert_int_eq(version_edit_encode(&e, &buf), KV_OK);
    version_edit_init(&d);
    ck_assert_int_eq(version_edit_decode(kv_slice_make(buf.data, buf.len), &d), KV_OK);
    ck_assert(d.has_log_number && d.log_number == 12);
    ck_assert(d.has_next_file_number && d.next_file_number == 99);
    ck_assert(d.has_last_seq && d.last_seq == 123456789);
    ck_assert_uint_eq(d.npointers, 1);
    ck_assert_int_eq(d.pointers[0].level, 2);
    ck_assert(kv_slice_eq(kv_slice_make(d.pointers[0].ikey.data, d.pointers[0].ikey.len), kv_slice_make(ptr, 15)));
    ck_assert(d.ndeleted == 1 && d.deleted[0].level == 1 && d.deleted[0].number == 40);
    ck_assert(d.nadded == 1 && d.added[0].level == 3);
    struct file_meta *f = d.added[0].f;
    ck_assert(f->number == 41 && f->bytes == 1041 && f->range_tombstones == 1);
    ck_assert(kv_slice_eq(f->smallest, e.added[0].f->smallest) && kv_slice_eq(f->largest, e.added[0].f->largest));
    /* Every cut inside a field fails cleanly (cuts between fields leave a
     * shorter valid edit; the manifest's record checksums catch those). */
    struct version_edit no_file;
    struct kv_buf prefix = { 0 };
    version_edit_init(&no_file);
    version_edit_set_log_number(&no_file, 12);
    version_edit_set_next_file_number(&no_file, 99);
    version_edit_set_last_seq(&no_file, 123456789);
    ck_assert_int_eq(version_edit_set_compact_pointer(&no_file, 2, kv_slice_make(ptr, 15)), KV_OK);
    ck_assert_int_eq(version_edit_delete_file(&no_file, 1, 40), KV_OK);
    ck_assert_int_eq(version_edit_encode(&no_file, &prefix), KV_OK);
    ck_assert(memcmp(prefix.data, buf.data, prefix.len) == 0);
    for (size_t n = prefix.len + 1; n < buf.len; n++) {
        struct version_edit t;
        version_edit_init(&t);
        int rc = version_edit_decode(kv_slice_make(buf.data, n), &t);
        ck_assert_msg(rc == KV_ECORRUPT, "cut at %zu", n);
        ck_assert_uint_eq(t.nadded, 0);
    }
    version_edit_free(&no_file);
    kv_buf_free(&prefix);
    version_edit_free(&d);
    version_edit_free(&e);
    kv_buf_free(&buf);
}
END_TEST

START_TEST(edit_decoder_rejects_bad_fields)
{
    struct version_edit e;
    const char unknown_tag[] = { 99, 1 };
    const char bad_level[] = { VERSION_EDIT_DELETED_FILE, ENGINE_LEVELS, 1 };
    const char short_key[] = { VERSION_EDIT_COMPACT_POINTER, 1, 3, 'a', 'b', 'c' };
    const char *cases[] = { unknown_tag, bad_level, short_key };
    size_t lens[] = { sizeof unknown_tag, sizeof bad_level, sizeof short_key };
    for (int i = 0; i < 3; i++) {
        version_edit_init(&e);
        ck_assert_int_eq(version_edit_decode(kv_slice_make(cases[i], lens[i]), &e), KV_ECORRUPT);
    }
    /* smallest > largest */
    struct kv_buf buf = { 0 };
    version_edit_init(&e);
    add(&e, 1, file(7, "z", "a", false));
    ck_assert_int_eq(version_edit_encode(&e, &buf), KV_OK);
    version_edit_free(&e);
    ck_assert_int_eq(version_edit_decode(kv_slice_make(buf.data, buf.len), &e), KV_ECORRUPT);
    kv_buf_free(&buf);
}
END_TEST

static struct version_set *new_set(struct env *env)
{
    struct version_set_options o = { .env = env, .dir = "/db", .level1_bytes = 1 << 20,
                                     .level0_compaction_trigger = 4 };
    struct version_set *vs;
    ck_assert_int_eq(version_set_new(&o, &mu, &vs), KV_OK);
    return vs;
}

static int apply(struct version_set *vs, struct version_edit *e)
{
    pthread_mutex_lock(&mu);
    int rc = version_set_log_and_apply(vs, e);
    pthread_mutex_unlock(&mu);
    version_edit_free(e);
    return rc;
}

/* Three edits: files 10, 11 at L0; 12 at L1; then 10 moves down to L2. */
static void write_history(struct version_set *vs)
{
    struct version_edit e;
    version_edit_init(&e);
    version_edit_set_log_number(&e, 3);
    add(&e, 0, file(10, "a", "f", false));
    add(&e, 0, file(11, "c", "k", false));
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    version_edit_init(&e);
    add(&e, 1, file(12, "m", "p", true));
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    version_edit_init(&e);
    ck_assert_int_eq(version_edit_delete_file(&e, 0, 10), KV_OK);
    add(&e, 2, file(10, "a", "f", false));
    vs->last_seq = 77;
    ck_assert_int_eq(apply(vs, &e), KV_OK);
}

static void expect_history(struct version_set *vs)
{
    const struct version *v = vs->current;
    ck_assert_uint_eq(v->nfiles[0], 1);
    ck_assert_uint_eq(v->files[0][0]->number, 11);
    ck_assert_uint_eq(v->nfiles[1], 1);
    ck_assert_uint_eq(v->files[1][0]->number, 12);
    ck_assert_uint_eq(v->files[1][0]->range_tombstones, 1);
    ck_assert_uint_eq(v->nfiles[2], 1);
    ck_assert_uint_eq(v->files[2][0]->number, 10);
    ck_assert_uint_eq(vs->log_number, 3);
    ck_assert_uint_eq(vs->last_seq, 77);
}

static struct env *mem_env(void)
{
    struct env *env;
    ck_assert_int_eq(env_mem_new(&env), KV_OK);
    ck_assert_int_eq(env_mkdir(env, "/db"), KV_OK);
    return env;
}

START_TEST(manifest_recovers_the_applied_edits)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    ck_assert_int_eq(version_set_recover(vs, NULL), KV_ENOTFOUND); /* no CURRENT yet */
    write_history(vs);
    expect_history(vs);
    uint64_t manifest = vs->manifest_number;
    version_set_free(vs);
    vs = new_set(env);
    uint64_t dropped = 1;
    ck_assert_int_eq(version_set_recover(vs, &dropped), KV_OK);
    ck_assert_uint_eq(dropped, 0);
    ck_assert_uint_eq(vs->manifest_number, manifest);
    expect_history(vs);
    ck_assert_uint_gt(vs->next_file_number, 12); /* past every file it names */
    /* The next apply starts a new manifest that holds the same state. */
    struct version_edit e;
    version_edit_init(&e);
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    ck_assert_uint_ne(vs->manifest_number, manifest);
    version_set_free(vs);
    vs = new_set(env);
    ck_assert_int_eq(version_set_recover(vs, NULL), KV_OK);
    expect_history(vs);
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

/* Rewrites the manifest named by CURRENT through f(data, len). */
static void mangle_manifest(struct env *env, uint64_t number, void (*f)(char *data, size_t *len))
{
    char path[FILENAME_PATH_BYTES_MAX], *data;
    size_t len;
    struct env_file *file;
    ck_assert_int_eq(filename_path(path, "/db", FILENAME_MANIFEST, number), KV_OK);
    ck_assert_int_eq(env_read_all(env, path, &data, &len), KV_OK);
    f(data, &len);
    ck_assert_int_eq(env_open(env, path, ENV_OPEN_TRUNCATE, &file), KV_OK);
    ck_assert_int_eq(env_append(file, data, len), KV_OK);
    ck_assert_int_eq(env_close(file), KV_OK);
    free(data);
}

static size_t manifest_len_before_last;

static void cut_last_record(char *data, size_t *len) { *len = manifest_len_before_last + 5; }

START_TEST(torn_manifest_tail_is_ignored)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    write_history(vs);
    manifest_len_before_last = wal_writer_size(vs->manifest);
    struct version_edit e;
    version_edit_init(&e);
    add(&e, 3, file(13, "x", "y", false));
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    uint64_t number = vs->manifest_number;
    version_set_free(vs);
    mangle_manifest(env, number, cut_last_record); /* the last edit is half written */
    vs = new_set(env);
    uint64_t dropped = 0;
    ck_assert_int_eq(version_set_recover(vs, &dropped), KV_OK);
    ck_assert_uint_eq(dropped, 5);
    expect_history(vs); /* as before the torn edit */
    ck_assert_uint_eq(vs->current->nfiles[3], 0);
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

static void flip_first_record(char *data, size_t *len) { data[10] ^= 0x40; }

START_TEST(damaged_manifest_is_corrupt)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    write_history(vs);
    uint64_t number = vs->manifest_number;
    version_set_free(vs);
    mangle_manifest(env, number, flip_first_record); /* valid records follow the bad one */
    vs = new_set(env);
    ck_assert_int_eq(version_set_recover(vs, NULL), KV_ECORRUPT);
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

static void write_current(struct env *env, const char *text)
{
    ck_assert_int_eq(env_write_atomic(env, "/db", "CURRENT", text, strlen(text)), KV_OK);
}

START_TEST(bad_or_dangling_current_is_corrupt)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    write_history(vs);
    version_set_free(vs);
    const char *bad[] = { "", "MANIFEST-\n", "MANIFEST-12", "MANIFEST-1x\n", "manifest-000001\n", "MANIFEST-999999\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_current(env, bad[i]);
        vs = new_set(env);
        ck_assert_msg(version_set_recover(vs, NULL) == KV_ECORRUPT, "CURRENT \"%s\"", bad[i]);
        version_set_free(vs);
    }
    env_destroy(env);
}
END_TEST

START_TEST(overlapping_files_in_a_level_are_refused)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    struct version_edit e;
    version_edit_init(&e);
    add(&e, 1, file(20, "a", "k", false));
    add(&e, 1, file(21, "k", "z", false));
    ck_assert_int_eq(apply(vs, &e), KV_ECORRUPT);
    /* Sharing a boundary through a tombstone end sentinel is not overlap. */
    version_edit_init(&e);
    add(&e, 1, file(22, "a", "k", true));
    add(&e, 1, file(23, "k", "z", false));
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

START_TEST(level_queries_find_the_right_files)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    struct version_edit e;
    version_edit_init(&e);
    add(&e, 0, file(30, "a", "c", false));
    add(&e, 0, file(31, "b", "e", false));
    add(&e, 0, file(32, "d", "f", false));
    add(&e, 0, file(33, "x", "z", false));
    add(&e, 1, file(40, "a", "k", true));
    add(&e, 1, file(41, "k", "p", false));
    add(&e, 1, file(42, "r", "t", false));
    ck_assert_int_eq(apply(vs, &e), KV_OK);
    const struct version *v = vs->current;
    ck_assert_uint_eq(v->files[0][0]->number, 33); /* level 0 newest first */
    struct file_meta **out;
    size_t n;
    struct kv_slice a = kv_slice_str("a"), aa = kv_slice_str("aa");
    /* Level 0 grows the range transitively: a..c pulls b..e pulls d..f. */
    ck_assert_int_eq(version_overlapping_files(v, 0, &a, &aa, &out, &n), KV_OK);
    ck_assert_uint_eq(n, 3);
    free(out);
    struct kv_slice k = kv_slice_str("k"), q = kv_slice_str("q"), s = kv_slice_str("s");
    ck_assert_uint_eq(version_find_file_for_user_key(v->files[1], v->nfiles[1], k), 1); /* 40 ends before k */
    ck_assert_uint_eq(version_find_file_for_user_key(v->files[1], v->nfiles[1], q), 3);  /* in a gap */
    ck_assert_uint_eq(version_find_file_for_user_key(v->files[1], v->nfiles[1], s), 2);
    ck_assert(version_overlap_in_level(v, 1, &q, &s));
    ck_assert(!version_overlap_in_level(v, 1, &q, &q));
    ck_assert(!version_overlap_in_level(v, 2, NULL, NULL));
    ck_assert(version_overlap_in_level(v, 0, NULL, NULL));
    ck_assert_uint_eq(version_set_level_bytes_max(vs, 3), 100u << 20);
    ck_assert(v->compaction_score >= 1.0 && v->compaction_level == 0); /* 4 files, trigger 4 */
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

START_TEST(large_manifest_is_replaced_by_a_snapshot)
{
    struct env *env = mem_env();
    struct version_set *vs = new_set(env);
    write_history(vs);
    uint64_t first = vs->manifest_number;
    char big[1024];
    memset(big, 'p', sizeof big);
    int edits = 0;
    while (vs->manifest_number == first && edits < 20000) {
        struct version_edit e;
        version_edit_init(&e);
        ikey_encode(big + sizeof big - IKEY_TRAILER_BYTES - 8, "12345678", 8, (uint64_t)edits, IKEY_TYPE_VALUE);
        ck_assert_int_eq(version_edit_set_compact_pointer(&e, 1, kv_slice_make(big, sizeof big)), KV_OK);
        ck_assert_int_eq(apply(vs, &e), KV_OK);
        edits++;
    }
    ck_assert_uint_ne(vs->manifest_number, first);
    ck_assert_int_gt(edits, (int)(VERSION_MANIFEST_BYTES_MAX / (sizeof big + 64))); /* not before it was full */
    version_set_free(vs);
    vs = new_set(env);
    ck_assert_int_eq(version_set_recover(vs, NULL), KV_OK);
    expect_history(vs);
    ck_assert_uint_eq(vs->compact_pointer[1].len, sizeof big);
    version_set_free(vs);
    env_destroy(env);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, edit_round_trips_through_its_encoding);
    tcase_add_test(tc, edit_decoder_rejects_bad_fields);
    tcase_add_test(tc, manifest_recovers_the_applied_edits);
    tcase_add_test(tc, torn_manifest_tail_is_ignored);
    tcase_add_test(tc, damaged_manifest_is_corrupt);
    tcase_add_test(tc, bad_or_dangling_current_is_corrupt);
    tcase_add_test(tc, overlapping_files_in_a_level_are_refused);
    tcase_add_test(tc, level_queries_find_the_right_files);
    tcase_add_test(tc, large_manifest_is_replaced_by_a_snapshot);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
