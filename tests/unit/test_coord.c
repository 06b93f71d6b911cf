/* test_coord.c - the request entry points on one node, over a real engine
 * in a temporary directory and a fake clock. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "coordinator/coord.h"
#include "coordinator/dvv.h"
#include "coordinator/object.h"
#include "coordinator/keyspace.h"
#include "storage/engine.h"
#include "storage/env.h"

/* ---- fixture ---- */

struct fake_time {
    uint64_t now_ms;
};

static uint64_t fake_ms(const struct kv_clock *c) { return ((const struct fake_time *)c->ctx)->now_ms; }

static struct fake_time ft;
static struct kv_clock fake_clock = { fake_ms, fake_ms, &ft };
static struct engine_compaction_filter filter = { coord_compaction_filter, &fake_clock };
static char dir[64];
static struct engine *eng;
static struct coord *co;

static void open_coord(uint32_t key_max, uint32_t value_max, uint32_t siblings_max)
{
    struct coord_config cfg;
    coord_config_default(&cfg);
    cfg.node_id = "n1";
    cfg.engine = eng;
    cfg.clock = &fake_clock;
    if (key_max)
        cfg.key_bytes_max = key_max;
    if (value_max)
        cfg.value_bytes_max = value_max;
    if (siblings_max)
        cfg.siblings_max = siblings_max;
    ck_assert_int_eq(coord_new(&cfg, &co), KV_OK);
}

static void setup(void)
{
    strcpy(dir, "/tmp/test_coord.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct engine_options eo;
    engine_options_default(&eo);
    eo.compaction_filter = &filter;
    eo.memtable_bytes = 1 << 20;
    ck_assert_int_eq(engine_open(dir, &eo, &eng), KV_OK);
    ft.now_ms = 1000000;
    open_coord(0, 0, 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftwbuf)
{
    (void)sb, (void)flag, (void)ftwbuf;
    return remove(path);
}

static void teardown(void)
{
    coord_free(co);
    co = NULL;
    ck_assert_int_eq(engine_close(eng), KV_OK);
    eng = NULL;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct kv_slice S(const char *s) { return kv_slice_str(s); }

/* ---- captured results (copied: results live only during the callback) ---- */

#define VALS_MAX 8
struct got {
    int calls;
    int status;
    bool found;
    uint32_t n;
    char val[VALS_MAX][128];
    uint64_t exp[VALS_MAX];
    bool counter[VALS_MAX];
    char ctx[512];
    size_t ctx_len;
    bool flag;
    int64_t num;
};

static void copy_ctx(struct got *g, struct kv_slice c)
{
    ck_assert_uint_le(c.len, sizeof g->ctx);
    if (c.len)
        memcpy(g->ctx, c.data, c.len);
    g->ctx_len = c.len;
}

static void copy_get(struct got *g, const struct coord_get_result *r)
{
    g->status = r->status;
    g->found = r->found;
    g->n = r->nvalues;
    ck_assert_uint_le(r->nvalues, VALS_MAX);
    for (uint32_t i = 0; i < r->nvalues; i++) {
        ck_assert_uint_lt(r->values[i].data.len, sizeof g->val[i]);
        memcpy(g->val[i], r->values[i].data.data, r->values[i].data.len);
        g->val[i][r->values[i].data.len] = 0;
        g->exp[i] = r->values[i].expires_at_ms;
        g->counter[i] = r->values[i].counter;
    }
    copy_ctx(g, r->context);
}

static void on_get(void *arg, const struct coord_get_result *r)
{
    struct got *g = arg;
    g->calls++;
    copy_get(g, r);
}
static void on_put(void *arg, const struct coord_put_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    copy_ctx(g, r->context);
}
static void on_del(void *arg, const struct coord_delete_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    g->flag = r->existed;
}
static void on_expire(void *arg, const struct coord_expire_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    g->flag = r->applied;
}
static void on_ttl(void *arg, const struct coord_ttl_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    g->num = r->ttl_ms;
}
static void on_incr(void *arg, const struct coord_incr_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    g->num = r->value;
}

static struct got get(const char *key)
{
    struct got g = { 0 };
    coord_get(co, S(key), NULL, on_get, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

static struct got put_full(const char *key, const char *val, struct kv_slice ctx, uint64_t ttl,
                           enum coord_condition cond)
{
    struct got g = { 0 };
    struct coord_put_args a = { S(key), S(val), ctx, ttl, cond };
    coord_put(co, &a, NULL, on_put, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

static int put(const char *key, const char *val) { return put_full(key, val, kv_slice_make(NULL, 0), 0, 0).status; }

static struct kv_slice ctx_of(const struct got *g) { return kv_slice_make(g->ctx, g->ctx_len); }

static struct got del(const char *key, struct kv_slice ctx)
{
    struct got g = { 0 };
    coord_delete(co, S(key), ctx, NULL, on_del, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

static int64_t ttl(const char *key)
{
    struct got g = { 0 };
    coord_ttl(co, S(key), NULL, on_ttl, &g);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    return g.num;
}

static struct got expire(const char *key, int64_t ms)
{
    struct got g = { 0 };
    coord_expire(co, S(key), ms, NULL, on_expire, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

static struct got persist(const char *key)
{
    struct got g = { 0 };
    coord_persist(co, S(key), NULL, on_expire, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

static struct got incr(const char *key, int64_t d)
{
    struct got g = { 0 };
    coord_incr(co, S(key), d, NULL, on_incr, &g);
    ck_assert_int_eq(g.calls, 1);
    return g;
}

/* Sorted-insensitive check that g holds exactly the values listed. */
static void assert_values(const struct got *g, uint32_t n, const char **want)
{
    ck_assert_int_eq(g->status, KV_OK);
    ck_assert_uint_eq(g->n, n);
    for (uint32_t i = 0; i < n; i++) {
        bool hit = false;
        for (uint32_t j = 0; j < g->n; j++)
            hit |= strcmp(g->val[j], want[i]) == 0;
        ck_assert_msg(hit, "missing value %s", want[i]);
    }
}

/* ---- tests ---- */

START_TEST(last_writer_wins_mode_keeps_one_value)
{
    coord_free(co);
    struct coord_config cfg;
    coord_config_default(&cfg);
    cfg.node_id = "n1";
    cfg.engine = eng;
    cfg.clock = &fake_clock;
    cfg.conflict_mode = COORD_CONFLICT_LWW;
    ck_assert_int_eq(coord_new(&cfg, &co), KV_OK);
    ck_assert_int_eq(put("k", "v0"), KV_OK);
    struct got seen = get("k");
    ck_assert_int_eq(put_full("k", "a", ctx_of(&seen), 0, 0).status, KV_OK);
    /* The wall clock goes back: the later write still wins here (its stamp
     * is above what its coordinator holds). */
    ft.now_ms -= 5000;
    ck_assert_int_eq(put_full("k", "b", ctx_of(&seen), 0, 0).status, KV_OK);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "b" });
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.siblings_created, 0);
    ck_assert_int_eq(del("k", ctx_of(&seen)).status, KV_OK);
    ck_assert(!get("k").found);
    ck_assert_int_eq(put("k", "c"), KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "c" });
    /* A bad mode is refused. */
    cfg.conflict_mode = (enum coord_conflict_mode)7;
    struct coord *bad = NULL;
    ck_assert_int_eq(coord_new(&cfg, &bad), KV_EINVAL);
}
END_TEST

struct inspected {
    int copies;
    uint32_t nsiblings;
    bool tombstone, self;
    char value[64];
};

static int on_copy(void *arg, const struct coord_local_copy *c)
{
    struct inspected *in = arg;
    in->copies++;
    in->nsiblings = c->nsiblings;
    ck_assert_uint_eq(c->hint_for.len, 0);
    ck_assert_uint_eq(c->nclock, 1);
    in->self = c->clock[0].self;
    for (uint32_t i = 0; i < c->nsiblings; i++) {
        in->tombstone |= c->siblings[i].tombstone;
        if (!c->siblings[i].tombstone) {
            ck_assert_uint_lt(c->siblings[i].value.len, sizeof in->value);
            memcpy(in->value, c->siblings[i].value.data, c->siblings[i].value.len);
            in->value[c->siblings[i].value.len] = 0;
        }
    }
    return KV_OK;
}

START_TEST(local_inspect_shows_the_stored_object)
{
    struct inspected in = { 0 };
    uint32_t p = 99;
    ck_assert_int_eq(coord_local_inspect(co, S("absent"), &p, on_copy, &in), KV_OK);
    ck_assert_int_eq(in.copies, 0);
    ck_assert_uint_lt(p, 256);
    ck_assert_int_eq(put("k", "v1"), KV_OK);
    ck_assert_int_eq(coord_local_inspect(co, S("k"), &p, on_copy, &in), KV_OK);
    ck_assert_int_eq(in.copies, 1);
    ck_assert_uint_eq(in.nsiblings, 1);
    ck_assert_str_eq(in.value, "v1");
    ck_assert(in.self && !in.tombstone);
    ck_assert_int_eq(incr("n", 41).status, KV_OK);
    memset(&in, 0, sizeof in);
    ck_assert_int_eq(coord_local_inspect(co, S("n"), &p, on_copy, &in), KV_OK);
    ck_assert_str_eq(in.value, "41"); /* counters as decimal text */
    ck_assert_int_eq(del("k", kv_slice_make(NULL, 0)).status, KV_OK);
    memset(&in, 0, sizeof in);
    ck_assert_int_eq(coord_local_inspect(co, S("k"), &p, on_copy, &in), KV_OK);
    ck_assert_int_eq(in.copies, 1);
    ck_assert(in.tombstone); /* the tombstone is shown, not hidden */
}
END_TEST

START_TEST(put_then_get_returns_the_value)
{
    struct got g = get("k");
    ck_assert_int_eq(g.status, KV_OK);
    ck_assert(!g.found);
    ck_assert_uint_eq(g.ctx_len, 2); /* "saw nothing" context */
    ck_assert_int_eq(put("k", "v1"), KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "v1" });
    ck_assert(g.found);
    ck_assert_uint_eq(g.exp[0], 0);
    ck_assert(!g.counter[0]);
    ck_assert_int_eq(put("k", "v2"), KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "v2" });
    /* Empty key and empty value are ordinary. */
    ck_assert_int_eq(put("", ""), KV_OK);
    g = get("");
    assert_values(&g, 1, (const char *[]){ "" });
}
END_TEST

START_TEST(delete_hides_the_key_and_reports_whether_it_existed)
{
    ck_assert_int_eq(put("k", "v"), KV_OK);
    struct got d = del("k", kv_slice_make(NULL, 0));
    ck_assert_int_eq(d.status, KV_OK);
    ck_assert(d.flag);
    ck_assert(!get("k").found);
    d = del("k", kv_slice_make(NULL, 0));
    ck_assert_int_eq(d.status, KV_OK);
    ck_assert(!d.flag);
    d = del("never", kv_slice_make(NULL, 0));
    ck_assert(!d.flag);
    /* A put after the delete, with the context of the (absent) read, is the only value. */
    struct got g = get("k");
    ck_assert_int_eq(put_full("k", "back", ctx_of(&g), 0, 0).status, KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "back" });
}
END_TEST

START_TEST(concurrent_writers_with_one_context_become_siblings_and_resolve)
{
    ck_assert_int_eq(put("k", "v0"), KV_OK);
    struct got seen = get("k");
    ck_assert_int_eq(put_full("k", "a", ctx_of(&seen), 0, 0).status, KV_OK);
    ck_assert_int_eq(put_full("k", "b", ctx_of(&seen), 0, 0).status, KV_OK);
    struct got g = get("k");
    assert_values(&g, 2, (const char *[]){ "a", "b" });
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.siblings_created, 1);
    /* Writing with the context that saw both resolves them. */
    ck_assert_int_eq(put_full("k", "c", ctx_of(&g), 0, 0).status, KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "c" });
    /* A put with the old context only supersedes what that client saw. */
    ck_assert_int_eq(put_full("k", "d", ctx_of(&seen), 0, 0).status, KV_OK);
    g = get("k");
    assert_values(&g, 2, (const char *[]){ "c", "d" });
    /* Deleting with a context covering one sibling leaves the other. */
    struct got saw_c_d = { 0 };
    memcpy(&saw_c_d, &g, sizeof g);
    ck_assert_int_eq(put_full("k", "e", ctx_of(&seen), 0, 0).status, KV_OK);
    ck_assert_int_eq(del("k", ctx_of(&saw_c_d)).status, KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "e" });
}
END_TEST

START_TEST(writers_that_both_saw_nothing_become_siblings)
{
    struct got g1 = get("new"), g2 = get("new");
    ck_assert_int_eq(put_full("new", "x", ctx_of(&g1), 0, 0).status, KV_OK);
    ck_assert_int_eq(put_full("new", "y", ctx_of(&g2), 0, 0).status, KV_OK);
    struct got g = get("new");
    assert_values(&g, 2, (const char *[]){ "x", "y" });
}
END_TEST

START_TEST(blind_overwrite_supersedes_every_sibling)
{
    struct got g0 = get("k");
    ck_assert_int_eq(put_full("k", "x", ctx_of(&g0), 0, 0).status, KV_OK);
    ck_assert_int_eq(put_full("k", "y", ctx_of(&g0), 0, 0).status, KV_OK);
    ck_assert_uint_eq(get("k").n, 2);
    ck_assert_int_eq(put("k", "z"), KV_OK);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "z" });
}
END_TEST

START_TEST(if_absent_and_if_exists_conditions)
{
    struct kv_slice none = kv_slice_make(NULL, 0);
    ck_assert_int_eq(put_full("k", "1", none, 0, COORD_PUT_IF_EXISTS).status, KV_ENOTFOUND);
    ck_assert(!get("k").found);
    ck_assert_int_eq(put_full("k", "1", none, 0, COORD_PUT_IF_ABSENT).status, KV_OK);
    ck_assert_int_eq(put_full("k", "2", none, 0, COORD_PUT_IF_ABSENT).status, KV_EEXIST);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "1" });
    ck_assert_int_eq(put_full("k", "3", none, 0, COORD_PUT_IF_EXISTS).status, KV_OK);
    g = get("k");
    assert_values(&g, 1, (const char *[]){ "3" });
    /* Expired and deleted keys count as absent. */
    ck_assert_int_eq(put_full("t", "x", none, 10, 0).status, KV_OK);
    ft.now_ms += 10;
    ck_assert_int_eq(put_full("t", "y", none, 0, COORD_PUT_IF_ABSENT).status, KV_OK);
    ck_assert_int_eq(del("t", none).status, KV_OK);
    ck_assert_int_eq(put_full("t", "z", none, 0, COORD_PUT_IF_EXISTS).status, KV_ENOTFOUND);
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.errors, 0); /* unmet conditions are answers */
}
END_TEST

START_TEST(ttl_expires_values_at_the_given_time)
{
    struct kv_slice none = kv_slice_make(NULL, 0);
    ck_assert_int_eq(ttl("k"), COORD_TTL_MISSING);
    ck_assert_int_eq(put_full("k", "v", none, 1000, 0).status, KV_OK);
    ck_assert_int_eq(ttl("k"), 1000);
    struct got g = get("k");
    ck_assert_uint_eq(g.exp[0], ft.now_ms + 1000);
    ft.now_ms += 400;
    ck_assert_int_eq(ttl("k"), 600);
    ft.now_ms += 599;
    ck_assert(get("k").found);
    ft.now_ms += 1;
    ck_assert(!get("k").found);
    ck_assert_int_eq(ttl("k"), COORD_TTL_MISSING);
    ck_assert_int_eq(put("k", "again"), KV_OK);
    ck_assert_int_eq(ttl("k"), COORD_TTL_NONE);
    /* SET without a TTL clears one, as in Redis. */
    ck_assert_int_eq(put_full("k", "v", none, 50, 0).status, KV_OK);
    ck_assert_int_eq(put("k", "w"), KV_OK);
    ck_assert_int_eq(ttl("k"), COORD_TTL_NONE);
    ck_assert_int_eq(put_full("k", "v", none, COORD_TTL_MS_MAX + 1, 0).status, KV_EINVAL);
}
END_TEST

START_TEST(expire_and_persist_change_the_current_values)
{
    struct got e = expire("nokey", 100);
    ck_assert_int_eq(e.status, KV_OK);
    ck_assert(!e.flag);
    ck_assert_int_eq(put("k", "v"), KV_OK);
    e = expire("k", 5000);
    ck_assert(e.flag);
    ck_assert_int_eq(ttl("k"), 5000);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "v" });
    e = persist("k");
    ck_assert_int_eq(e.status, KV_OK);
    ck_assert(e.flag);
    ck_assert_int_eq(ttl("k"), COORD_TTL_NONE);
    ck_assert(!persist("k").flag); /* nothing to remove */
    ck_assert(!persist("nokey").flag);
    /* Siblings stay siblings, each with the new expiry. */
    struct got g0 = get("s");
    ck_assert_int_eq(put_full("s", "x", ctx_of(&g0), 0, 0).status, KV_OK);
    ck_assert_int_eq(put_full("s", "y", ctx_of(&g0), 0, 0).status, KV_OK);
    ck_assert(expire("s", 300).flag);
    g = get("s");
    assert_values(&g, 2, (const char *[]){ "x", "y" });
    ck_assert_uint_eq(g.exp[0], ft.now_ms + 300);
    ck_assert_uint_eq(g.exp[1], ft.now_ms + 300);
    ft.now_ms += 300;
    ck_assert(!get("s").found);
    /* A TTL <= 0 deletes, as Redis EXPIRE does. */
    ck_assert_int_eq(put("d", "v"), KV_OK);
    e = expire("d", 0);
    ck_assert(e.flag);
    ck_assert(!get("d").found);
    ck_assert_int_eq(expire("k", (int64_t)COORD_TTL_MS_MAX + 1).status, KV_EINVAL);
}
END_TEST

START_TEST(incr_counts_from_absent_integer_and_refuses_other_values)
{
    struct got r = incr("c", 1);
    ck_assert_int_eq(r.status, KV_OK);
    ck_assert_int_eq(r.num, 1);
    ck_assert_int_eq(incr("c", 5).num, 6);
    ck_assert_int_eq(incr("c", -10).num, -4);
    struct got g = get("c");
    assert_values(&g, 1, (const char *[]){ "-4" });
    ck_assert(g.counter[0]);
    /* A decimal register converts. */
    ck_assert_int_eq(put("n", "41"), KV_OK);
    ck_assert_int_eq(incr("n", 1).num, 42);
    ck_assert_int_eq(incr("n", 1).num, 43);
    /* SET makes it a register again. */
    ck_assert_int_eq(put("n", "7"), KV_OK);
    g = get("n");
    ck_assert(!g.counter[0]);
    ck_assert_int_eq(incr("n", 1).num, 8);
    /* Not an integer: refused, value untouched. */
    const char *bad[] = { "abc", "1.5", " 1", "01", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(put("s", bad[i]), KV_OK);
        ck_assert_int_eq(incr("s", 1).status, KV_EINVAL);
        g = get("s");
        assert_values(&g, 1, (const char *[]){ bad[i] });
    }
    /* Overflow: refused, nothing written. */
    ck_assert_int_eq(put("big", "9223372036854775807"), KV_OK);
    ck_assert_int_eq(incr("big", 1).status, KV_ETOOBIG);
    g = get("big");
    ck_assert(!g.counter[0]);
    ck_assert_int_eq(incr("big", -1).num, INT64_MAX - 1);
    /* A deleted counter starts over. */
    ck_assert_int_eq(del("c", kv_slice_make(NULL, 0)).status, KV_OK);
    ck_assert_int_eq(incr("c", 2).num, 2);
}
END_TEST

START_TEST(incr_keeps_the_expiry)
{
    ck_assert_int_eq(put_full("k", "1", kv_slice_make(NULL, 0), 1000, 0).status, KV_OK);
    ft.now_ms += 100;
    ck_assert_int_eq(incr("k", 1).num, 2);
    ck_assert_int_eq(ttl("k"), 900);
    ck_assert(expire("k", 50).flag);
    ck_assert_int_eq(incr("k", 1).num, 3);
    ck_assert_int_eq(ttl("k"), 50);
    ft.now_ms += 50;
    ck_assert(!get("k").found);
    ck_assert_int_eq(incr("k", 1).num, 1);
    ck_assert_int_eq(ttl("k"), COORD_TTL_NONE);
}
END_TEST

struct got_batch {
    int calls;
    int status;
    uint32_t n;
    struct got items[8];
};

static void on_bget(void *arg, const struct coord_batch_get_result *r)
{
    struct got_batch *b = arg;
    b->calls++;
    b->status = r->status;
    b->n = r->nitems;
    for (uint32_t i = 0; i < r->nitems && i < 8; i++)
        copy_get(&b->items[i], &r->items[i]);
}

static void on_bput(void *arg, const struct coord_batch_put_result *r)
{
    struct got_batch *b = arg;
    b->calls++;
    b->status = r->status;
    b->n = r->nitems;
    for (uint32_t i = 0; i < r->nitems && i < 8; i++) {
        b->items[i].status = r->items[i].status;
        copy_ctx(&b->items[i], r->items[i].context);
    }
}

START_TEST(batch_put_and_get_answer_per_key_in_order)
{
    char big[40];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    coord_free(co);
    open_coord(32, 0, 0);
    struct coord_put_args items[4] = {
        { S("a"), S("1"), { 0 }, 0, 0 },
        { S("b"), S("2"), { 0 }, 0, 0 },
        { S(big), S("x"), { 0 }, 0, 0 },       /* key over the limit */
        { S("a"), S("3"), { 0 }, 0, 0 },       /* same key again: sees the first */
    };
    struct got_batch bp = { 0 };
    coord_batch_put(co, items, 4, NULL, on_bput, &bp);
    ck_assert_int_eq(bp.calls, 1);
    ck_assert_int_eq(bp.status, KV_OK);
    ck_assert_uint_eq(bp.n, 4);
    ck_assert_int_eq(bp.items[0].status, KV_OK);
    ck_assert_int_eq(bp.items[1].status, KV_OK);
    ck_assert_int_eq(bp.items[2].status, KV_ETOOBIG);
    ck_assert_int_eq(bp.items[3].status, KV_OK);
    ck_assert_uint_gt(bp.items[3].ctx_len, 2);

    struct kv_slice keys[4] = { S("a"), S("missing"), S("b"), S(big) };
    struct got_batch bg = { 0 };
    coord_batch_get(co, keys, 4, NULL, on_bget, &bg);
    ck_assert_int_eq(bg.calls, 1);
    ck_assert_int_eq(bg.status, KV_OK);
    ck_assert_uint_eq(bg.n, 4);
    assert_values(&bg.items[0], 1, (const char *[]){ "3" });
    ck_assert(!bg.items[1].found);
    ck_assert_int_eq(bg.items[1].status, KV_OK);
    assert_values(&bg.items[2], 1, (const char *[]){ "2" });
    ck_assert_int_eq(bg.items[3].status, KV_ETOOBIG);
    /* The context from the batch get works for a put. */
    ck_assert_int_eq(put_full("a", "4", ctx_of(&bg.items[0]), 0, 0).status, KV_OK);
    assert_values((struct got[]){ get("a") }, 1, (const char *[]){ "4" });
    /* Too many keys refuses the whole batch. */
    struct got_batch huge = { 0 };
    coord_batch_get(co, keys, KV_BATCH_KEYS_MAX + 1, NULL, on_bget, &huge);
    ck_assert_int_eq(huge.calls, 1);
    ck_assert_int_eq(huge.status, KV_ETOOBIG);
    ck_assert_uint_eq(huge.n, 0);
}
END_TEST

static void count_ok(void *arg, const struct coord_batch_put_result *r)
{
    uint32_t *ok = arg;
    ck_assert_int_eq(r->status, KV_OK);
    for (uint32_t i = 0; i < r->nitems; i++)
        *ok += r->items[i].status == KV_OK;
}

START_TEST(batch_put_of_many_keys_writes_them_all)
{
    enum { N = 3000 };
    struct coord_put_args *items = calloc(N, sizeof *items);
    char (*names)[16] = calloc(N, sizeof *names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "key%d", i % 2000); /* 1000 repeats */
        items[i] = (struct coord_put_args){ S(names[i]), S(names[i]), { 0 }, 0, 0 };
    }
    struct got_batch bp = { 0 };
    coord_batch_put(co, items, N, NULL, on_bput, &bp);
    ck_assert_int_eq(bp.status, KV_OK);
    ck_assert_uint_eq(bp.n, N);
    for (int i = 0; i < 2000; i += 97) {
        struct got g = get(names[i]);
        assert_values(&g, 1, (const char *[]){ names[i] });
    }
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.puts, N);
    ck_assert_uint_eq(st.siblings_created, 0); /* repeats superseded, not siblings */
    /* Large values: the batch is written in several engine batches. */
    enum { BIG = 1 << 20, NB = 12 };
    char *big = malloc(BIG);
    memset(big, 'z', BIG);
    for (int i = 0; i < NB; i++)
        items[i] = (struct coord_put_args){ S(names[i]), kv_slice_make(big, BIG), { 0 }, 0, 0 };
    uint32_t ok = 0;
    coord_batch_put(co, items, NB, NULL, count_ok, &ok);
    ck_assert_uint_eq(ok, NB);
    for (int i = 0; i < NB; i++) {
        struct kv_buf raw = { 0 };
        char ek[64];
        struct keyspace ks;
        ck_assert_int_eq(keyspace_init(&ks, KEYSPACE_PARTITIONS_DEFAULT), KV_OK);
        struct kv_slice k = kv_slice_make(ek, keyspace_encode(&ks, KEYSPACE_DATA, S(names[i]), ek));
        ck_assert_int_eq(engine_get(eng, NULL, k, &raw), KV_OK);
        ck_assert_uint_gt(raw.len, BIG);
        kv_buf_free(&raw);
    }
    free(big);
    free(items);
    free(names);
}
END_TEST

START_TEST(key_value_and_sibling_limits_are_reported)
{
    coord_free(co);
    open_coord(8, 16, 3);
    ck_assert_int_eq(put("12345678", "0123456789abcdef"), KV_OK);
    ck_assert_int_eq(put("123456789", "v"), KV_ETOOBIG);
    ck_assert_int_eq(put("k", "0123456789abcdefg"), KV_ETOOBIG);
    ck_assert_int_eq(get("123456789").status, KV_ETOOBIG);
    ck_assert_int_eq(del("123456789", kv_slice_make(NULL, 0)).status, KV_ETOOBIG);
    ck_assert_int_eq(incr("123456789", 1).status, KV_ETOOBIG);
    struct got g0 = get("s");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(put_full("s", "v", ctx_of(&g0), 0, 0).status, KV_OK);
    ck_assert_int_eq(put_full("s", "v", ctx_of(&g0), 0, 0).status, KV_ETOOBIG);
    struct got g = get("s");
    ck_assert_uint_eq(g.n, 3); /* nothing trimmed */
    ck_assert_int_eq(put_full("s", "w", ctx_of(&g), 0, 0).status, KV_OK);
    ck_assert_uint_eq(get("s").n, 1);
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.errors, 6);
}
END_TEST

START_TEST(bad_context_and_options_are_invalid)
{
    struct got g = put_full("k", "v", kv_slice_make("\x07junk", 5), 0, 0);
    ck_assert_int_eq(g.status, KV_EINVAL);
    ck_assert_uint_eq(g.ctx_len, 0);
    ck_assert_int_eq(del("k", kv_slice_make("\x01", 1)).status, KV_EINVAL);
    struct coord_options o = { COORD_CONSISTENCY_EXPLICIT, 2, 0, false };
    struct got r = { 0 };
    coord_get(co, S("k"), &o, on_get, &r);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.status, KV_EINVAL);
    o.replicas = 1;
    r = (struct got){ 0 };
    coord_get(co, S("k"), &o, on_get, &r);
    ck_assert_int_eq(r.status, KV_OK);
    struct coord_options all = { COORD_CONSISTENCY_ALL, 0, 100, true };
    r = (struct got){ 0 };
    struct coord_put_args a = { S("k"), S("v"), { 0 }, 0, 0 };
    coord_put(co, &a, &all, on_put, &r);
    ck_assert_int_eq(r.status, KV_OK);
    struct coord_options weird = { (enum coord_consistency)99, 0, 0, false };
    r = (struct got){ 0 };
    coord_incr(co, S("n"), 1, &weird, on_incr, &r);
    ck_assert_int_eq(r.status, KV_EINVAL);
}
END_TEST

static struct kv_slice ekey_of(const char *key, char *buf)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, KEYSPACE_PARTITIONS_DEFAULT), KV_OK);
    return kv_slice_make(buf, keyspace_encode(&ks, KEYSPACE_DATA, S(key), buf));
}

static int raw_get(const char *key)
{
    char buf[64];
    struct kv_buf v = { 0 };
    int rc = engine_get(eng, NULL, ekey_of(key, buf), &v);
    kv_buf_free(&v);
    return rc;
}

START_TEST(compaction_filter_purges_expired_objects_only)
{
    struct kv_slice none = kv_slice_make(NULL, 0);
    ck_assert_int_eq(put_full("short", "v", none, 100, 0).status, KV_OK);
    ck_assert_int_eq(put_full("long", "v", none, 100000, 0).status, KV_OK);
    ck_assert_int_eq(put("forever", "v"), KV_OK);
    ck_assert_int_eq(put_full("gone", "v", none, 100, 0).status, KV_OK);
    ck_assert_int_eq(del("gone", none).status, KV_OK);   /* a tombstone: kept for anti-entropy */
    struct got g0 = get("mixed");
    ck_assert_int_eq(put_full("mixed", "a", ctx_of(&g0), 100, 0).status, KV_OK);
    ck_assert_int_eq(put_full("mixed", "b", ctx_of(&g0), 0, 0).status, KV_OK);
    ft.now_ms += 100;
    ck_assert_int_eq(engine_flush(eng), KV_OK);
    ck_assert_int_eq(engine_compact_range(eng, NULL, NULL), KV_OK);
    ck_assert_int_eq(raw_get("short"), KV_ENOTFOUND);
    ck_assert_int_eq(raw_get("long"), KV_OK);
    ck_assert_int_eq(raw_get("forever"), KV_OK);
    ck_assert_int_eq(raw_get("gone"), KV_OK);
    ck_assert_int_eq(raw_get("mixed"), KV_OK);
    struct got g = get("mixed");
    assert_values(&g, 1, (const char *[]){ "b" });
    /* Other keyspace kinds and unreadable objects are never dropped. */
    ck_assert_int_eq(coord_compaction_filter(&fake_clock, 0, kv_slice_make("\x02\x00\x00k", 4),
                                             kv_slice_make("\x01", 1)), ENGINE_FILTER_KEEP);
    ck_assert_int_eq(coord_compaction_filter(&fake_clock, 0, kv_slice_make("\x01\x00\x00k", 4),
                                             kv_slice_make("\x01\x00", 2)), ENGINE_FILTER_KEEP);
}
END_TEST

START_TEST(cluster_filter_drops_expired_objects_only_after_the_grace)
{
    struct kv_buf rec = { 0 }, enc = { 0 };
    struct object o;
    object_init(&o);
    ck_assert_int_eq(object_record_append(&rec, 0, 5000, S("v")), KV_OK);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_new(&v, 1, &o.clock), KV_OK);
    ck_assert_int_eq(object_encode(&o, &enc), KV_OK);
    struct kv_slice key = kv_slice_make("\x01\x00\x00k", 4), obj = kv_slice_make(enc.data, enc.len);
    struct coord_ttl_filter f = { &fake_clock, 1000 };
    ft.now_ms = 5500; /* expired 500 ms ago: within the grace */
    ck_assert_int_eq(coord_compaction_filter_grace(&f, 0, key, obj), ENGINE_FILTER_KEEP);
    ft.now_ms = 6000; /* expired exactly grace ago */
    ck_assert_int_eq(coord_compaction_filter_grace(&f, 0, key, obj), ENGINE_FILTER_DROP);
    ck_assert_int_eq(coord_compaction_filter_grace(&f, 0, kv_slice_make("\x02\x00\x00k", 4), obj),
                     ENGINE_FILTER_KEEP);
    kv_buf_reset(&rec);
    kv_buf_reset(&enc);
    ck_assert_int_eq(object_record_append(&rec, OBJECT_FLAG_TOMBSTONE, 0, kv_slice_make(NULL, 0)), KV_OK);
    v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_new(&v, 1, &o.clock), KV_OK);
    ck_assert_int_eq(object_encode(&o, &enc), KV_OK);
    ft.now_ms = 100000000;
    ck_assert_int_eq(coord_compaction_filter_grace(&f, 0, key, kv_slice_make(enc.data, enc.len)), ENGINE_FILTER_KEEP);
    object_free(&o);
    kv_buf_free(&rec);
    kv_buf_free(&enc);
}
END_TEST

START_TEST(corrupt_stored_object_is_reported)
{
    char buf[64];
    ck_assert_int_eq(engine_put(eng, ekey_of("bad", buf), kv_slice_make("\x01\x05", 2)), KV_OK);
    ck_assert_int_eq(get("bad").status, KV_ECORRUPT);
    ck_assert_int_eq(put("bad", "v"), KV_ECORRUPT);
    ck_assert_int_eq(incr("bad", 1).status, KV_ECORRUPT);
    ck_assert_int_eq(ttl("ok"), COORD_TTL_MISSING);
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.errors, 3);
}
END_TEST

START_TEST(stats_count_requests)
{
    ck_assert_int_eq(put("a", "1"), KV_OK);
    (void)get("a");
    (void)get("b");
    (void)del("a", kv_slice_make(NULL, 0));
    (void)incr("n", 1);
    (void)expire("n", 10);
    (void)persist("n");
    (void)ttl("n");
    struct coord_stats st;
    coord_get_stats(co, &st);
    ck_assert_uint_eq(st.puts, 1);
    ck_assert_uint_eq(st.gets, 2);
    ck_assert_uint_eq(st.not_found, 1);
    ck_assert_uint_eq(st.deletes, 1);
    ck_assert_uint_eq(st.incrs, 1);
    ck_assert_uint_eq(st.expires, 2);
    ck_assert_uint_eq(st.ttls, 1);
    ck_assert_uint_eq(st.errors, 0);
}
END_TEST

START_TEST(data_survives_reopen)
{
    ck_assert_int_eq(put("k", "v"), KV_OK);
    ck_assert_int_eq(incr("n", 3).num, 3);
    coord_free(co);
    ck_assert_int_eq(engine_close(eng), KV_OK);
    struct engine_options eo;
    engine_options_default(&eo);
    eo.compaction_filter = &filter;
    ck_assert_int_eq(engine_open(dir, &eo, &eng), KV_OK);
    open_coord(0, 0, 0);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "v" });
    ck_assert_int_eq(incr("n", 1).num, 4);
}
END_TEST

/* Regression (sim campaign seed 90141): a failed fsync leaves the record
 * in the log, so a reopened engine replays it. The write was answered
 * "no space left", a refusal, yet its value came back. It is in doubt. */
START_TEST(disk_error_on_put_is_in_doubt_because_the_log_may_keep_it)
{
    coord_free(co);
    ck_assert_int_eq(engine_close(eng), KV_OK);
    struct env *fault;
    ck_assert_int_eq(env_fault_new(env_posix(), &fault), KV_OK);
    struct engine_options eo;
    engine_options_default(&eo);
    eo.compaction_filter = &filter;
    eo.env = fault;
    eo.sync = ENGINE_SYNC_ALWAYS;
    ck_assert_int_eq(engine_open(dir, &eo, &eng), KV_OK);
    open_coord(0, 0, 0);
    ck_assert_int_eq(put("k", "v1"), KV_OK);
    env_fault_fail_after(fault, 1, KV_ENOSPC); /* the log append goes through, its fsync fails */
    ck_assert_int_eq(put("k", "v2"), KV_EINDOUBT);
    ck_assert_int_eq(put("k", "v3"), KV_EINDOUBT); /* the engine has stopped: still a disk error */
    coord_free(co);
    (void)engine_close(eng); /* fails: the engine stopped at the failed sync */
    env_fault_fail_after(fault, -1, 0);
    env_destroy(fault);
    eo.env = NULL;
    ck_assert_int_eq(engine_open(dir, &eo, &eng), KV_OK);
    open_coord(0, 0, 0);
    struct got g = get("k");
    assert_values(&g, 1, (const char *[]){ "v2" }); /* the "failed" write is there */
}
END_TEST

START_TEST(config_is_validated)
{
    struct coord_config cfg;
    struct coord *c2 = NULL;
    coord_config_default(&cfg);
    cfg.engine = eng;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_EINVAL); /* no node id */
    cfg.node_id = "n1";
    cfg.n_replicas = 3;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_EINVAL);
    cfg.n_replicas = 1;
    cfg.partitions = 100;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_EINVAL);
    cfg.partitions = 256;
    cfg.siblings_max = COORD_SIBLINGS_LIMIT + 1;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_EINVAL);
    cfg.siblings_max = 8;
    cfg.key_bytes_max = COORD_KEY_BYTES_LIMIT + 1;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_EINVAL);
    cfg.key_bytes_max = 100;
    ck_assert_int_eq(coord_new(&cfg, &c2), KV_OK);
    coord_free(c2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("coord");
    TCase *tc = tcase_create("coord");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_then_get_returns_the_value);
    tcase_add_test(tc, last_writer_wins_mode_keeps_one_value);
    tcase_add_test(tc, local_inspect_shows_the_stored_object);
    tcase_add_test(tc, delete_hides_the_key_and_reports_whether_it_existed);
    tcase_add_test(tc, concurrent_writers_with_one_context_become_siblings_and_resolve);
    tcase_add_test(tc, writers_that_both_saw_nothing_become_siblings);
    tcase_add_test(tc, blind_overwrite_supersedes_every_sibling);
    tcase_add_test(tc, if_absent_and_if_exists_conditions);
    tcase_add_test(tc, ttl_expires_values_at_the_given_time);
    tcase_add_test(tc, expire_and_persist_change_the_current_values);
    tcase_add_test(tc, incr_counts_from_absent_integer_and_refuses_other_values);
    tcase_add_test(tc, incr_keeps_the_expiry);
    tcase_add_test(tc, batch_put_and_get_answer_per_key_in_order);
    tcase_add_test(tc, batch_put_of_many_keys_writes_them_all);
    tcase_add_test(tc, key_value_and_sibling_limits_are_reported);
    tcase_add_test(tc, bad_context_and_options_are_invalid);
    tcase_add_test(tc, compaction_filter_purges_expired_objects_only);
    tcase_add_test(tc, cluster_filter_drops_expired_objects_only_after_the_grace);
    tcase_add_test(tc, corrupt_stored_object_is_reported);
    tcase_add_test(tc, stats_count_requests);
    tcase_add_test(tc, data_survives_reopen);
    tcase_add_test(tc, disk_error_on_put_is_in_doubt_because_the_log_may_keep_it);
    tcase_add_test(tc, config_is_validated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
