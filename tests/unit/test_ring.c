/* test_ring.c - partitions, claim balance and movement, preference lists, zones, plans, encoding. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/status.h"
#include "gossip/ring.h"

#define Q 256u
#define N 3u
#define NODES_MAX 64

static char ids[NODES_MAX][24];
static char zones[NODES_MAX][24];
static struct ring_member_spec specs[NODES_MAX];

/* specs[0..n) = node00.. with zones z0..z(n_zones-1) round-robin (no zones if n_zones == 0). */
static void make_specs(int n, int n_zones)
{
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "node%02d", i);
        snprintf(zones[i], sizeof zones[i], "z%d", n_zones ? i % n_zones : 0);
        specs[i].id = ids[i];
        specs[i].zone = n_zones ? zones[i] : NULL;
    }
}

static struct ring *create(int s, int n_zones)
{
    make_specs(s, n_zones);
    struct ring *r = NULL;
    ck_assert_int_eq(ring_create(Q, N, specs, (size_t)s, &r), KV_OK);
    return r;
}

static struct ring *claim(const struct ring *cur, const struct ring_member_spec *members, int s)
{
    struct ring *t = NULL;
    ck_assert_int_eq(ring_claim(cur, members, (size_t)s, &t), KV_OK);
    return t;
}

static size_t moves_between(const struct ring *a, const struct ring *b)
{
    struct ring_plan *plan = NULL;
    ck_assert_int_eq(ring_plan(a, b, &plan), KV_OK);
    size_t n = plan->n_moves;
    ring_plan_free(plan);
    return n;
}

/* Every member owns floor(Q/S) or ceil(Q/S); returns the largest deviation from the mean in %. */
static double check_balance(const struct ring *r)
{
    uint32_t s = ring_member_count(r), lo = Q / s, hi = (Q + s - 1) / s;
    double mean = (double)Q / s, worst = 0;
    for (uint32_t i = 0; i < s; i++) {
        uint32_t c = ring_owned_count(r, i);
        ck_assert_msg(c >= lo && c <= hi, "member %u owns %u, want %u..%u", i, c, lo, hi);
        double dev = (c > mean ? c - mean : mean - c) * 100.0 / mean;
        if (dev > worst)
            worst = dev;
    }
    return worst;
}

static void check_preference_lists(const struct ring *r)
{
    uint32_t s = ring_member_count(r), out[NODES_MAX];
    for (uint32_t p = 0; p < Q; p++) {
        size_t n = ring_preference_list(r, p, out, NODES_MAX);
        ck_assert_uint_eq(n, s);
        ck_assert_uint_eq(out[0], ring_owner(r, p));
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                ck_assert_msg(out[i] != out[j], "partition %u lists member %u twice", p, out[i]);
    }
}

START_TEST(partition_is_top_bits_of_key_hash)
{
    ck_assert_uint_eq(ring_partition_of_hash(0, Q), 0);
    ck_assert_uint_eq(ring_partition_of_hash(UINT64_MAX, Q), Q - 1);
    ck_assert_uint_eq(ring_partition_of_hash((uint64_t)1 << 56, Q), 1);
    ck_assert_uint_eq(ring_partition_of_hash(((uint64_t)1 << 56) - 1, Q), 0);
    ck_assert_uint_eq(ring_partition_of_hash(UINT64_MAX, 1), 0);
    ck_assert_uint_eq(ring_partition_of_key("abc", 3, Q), kv_hash64("abc", 3, 0) >> 56);
    ck_assert_uint_eq(ring_partition_of_key("abc", 3, 1024), kv_hash64("abc", 3, 0) >> 54);
}
END_TEST

START_TEST(create_rejects_bad_arguments)
{
    struct ring *r = NULL;
    make_specs(3, 0);
    ck_assert_int_eq(ring_create(100, N, specs, 3, &r), KV_EINVAL);   /* not a power of two */
    ck_assert_int_eq(ring_create(1u << 15, N, specs, 3, &r), KV_EINVAL);
    ck_assert_int_eq(ring_create(Q, 0, specs, 3, &r), KV_EINVAL);
    ck_assert_int_eq(ring_create(Q, N, specs, 0, &r), KV_EINVAL);
    specs[1].id = specs[0].id;
    ck_assert_int_eq(ring_create(Q, N, specs, 3, &r), KV_EINVAL);     /* duplicate id */
    specs[1].id = "";
    ck_assert_int_eq(ring_create(Q, N, specs, 3, &r), KV_EINVAL);
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(new_ring_is_balanced_for_5_to_20_nodes)
{
    for (int s = 5; s <= 20; s++) {
        struct ring *r = create(s, 0);
        ck_assert_uint_eq(ring_version(r), 1);
        ck_assert_double_le(check_balance(r), 10.0);
        ring_free(r);
    }
}
END_TEST

START_TEST(new_ring_repeats_no_node_within_n_partitions)
{
    for (int s = 4; s <= 20; s++) {
        struct ring *r = create(s, 0);
        uint32_t node_pairs, zone_pairs;
        ring_spacing_violations(r, &node_pairs, &zone_pairs);
        ck_assert_msg(node_pairs == 0, "S=%d: %u node conflicts", s, node_pairs);
        ring_free(r);
    }
    /* 256 = 3 * 85 + 1: one repeat is forced with 3 nodes. */
    struct ring *r = create(3, 0);
    uint32_t node_pairs, zone_pairs;
    ring_spacing_violations(r, &node_pairs, &zone_pairs);
    ck_assert_uint_le(node_pairs, 1);
    ring_free(r);
}
END_TEST

START_TEST(adding_one_node_moves_at_most_share_plus_s)
{
    /* Both from fresh rings and along a chain of growing rings. */
    make_specs(21, 0);
    struct ring *chain = create(1, 0);
    for (int s = 1; s <= 20; s++) {
        size_t bound = (Q + (uint32_t)s) / ((uint32_t)s + 1) + (size_t)s;
        struct ring *fresh = create(s, 0);
        make_specs(21, 0);
        struct ring *grown = claim(fresh, specs, s + 1);
        ck_assert_msg(moves_between(fresh, grown) <= bound, "fresh S=%d", s);
        check_balance(grown);
        struct ring *next = claim(chain, specs, s + 1);
        ck_assert_msg(moves_between(chain, next) <= bound, "chain S=%d", s);
        check_balance(next);
        ck_assert_uint_eq(ring_version(next), ring_version(chain) + 1);
        ring_free(chain);
        chain = next;
        ring_free(fresh);
        ring_free(grown);
    }
    ring_free(chain);
}
END_TEST

START_TEST(removing_one_node_moves_at_most_its_share_plus_s)
{
    for (int s = 1; s <= 20; s++) {
        size_t bound = (Q + (uint32_t)s) / ((uint32_t)s + 1) + (size_t)s;
        struct ring *r = create(s + 1, 0);
        /* Remove each position in turn: first, middle, last. */
        int victims[3] = { 0, (s + 1) / 2, s };
        for (int v = 0; v < 3; v++) {
            struct ring_member_spec rest[NODES_MAX];
            int n = 0;
            for (int i = 0; i <= s; i++)
                if (i != victims[v])
                    rest[n++] = specs[i];
            struct ring *t = claim(r, rest, n);
            ck_assert_msg(moves_between(r, t) <= bound, "S=%d victim %d", s + 1, victims[v]);
            check_balance(t);
            ring_free(t);
        }
        ring_free(r);
    }
}
END_TEST

START_TEST(claim_without_change_moves_nothing)
{
    struct ring *r = create(7, 0);
    struct ring *t = claim(r, specs, 7);
    ck_assert_uint_eq(moves_between(r, t), 0);
    ring_free(t);
    ring_free(r);
}
END_TEST

START_TEST(preference_lists_have_n_distinct_nodes_when_s_at_least_n)
{
    /* Fresh rings, and rings reached by adds and removes. */
    for (int s = 3; s <= 20; s++) {
        struct ring *r = create(s, 0);
        check_preference_lists(r);
        make_specs(s + 1, 0);
        struct ring *t = claim(r, specs, s + 1);
        check_preference_lists(t);
        struct ring *u = claim(t, specs + 1, s);
        check_preference_lists(u);
        ring_free(u);
        ring_free(t);
        ring_free(r);
    }
    /* Fewer members than N: every member, once. */
    struct ring *r = create(2, 0);
    uint32_t out[4];
    ck_assert_uint_eq(ring_preference_list(r, 5, out, 4), 2);
    ck_assert_uint_ne(out[0], out[1]);
    ring_free(r);
}
END_TEST

START_TEST(three_zones_each_preference_list_spans_three_zones)
{
    for (int s = 3; s <= 18; s += 3) {
        struct ring *r = create(s, 3);
        uint32_t node_pairs, zone_pairs;
        ring_spacing_violations(r, &node_pairs, &zone_pairs);
        /* 256 is not a multiple of 3: one zone repeat at the wrap is forced. */
        ck_assert_msg(zone_pairs <= 1, "S=%d zone conflicts %u", s, zone_pairs);
        ck_assert_uint_le(node_pairs, s == 3 ? 1u : 0u);
        uint32_t out[N];
        for (uint32_t p = 0; p < Q; p++) {
            ck_assert_uint_eq(ring_preference_list(r, p, out, N), N);
            const char *z0 = ring_member_zone(r, out[0]), *z1 = ring_member_zone(r, out[1]),
                       *z2 = ring_member_zone(r, out[2]);
            ck_assert_msg(strcmp(z0, z1) && strcmp(z0, z2) && strcmp(z1, z2), "S=%d p=%u", s, p);
        }
        ring_free(r);
    }
}
END_TEST

START_TEST(zone_aware_list_skips_a_second_node_of_a_used_zone)
{
    /* Two nodes in z0, one in z1, one in z2: the primaries must cover all three zones
     * even where the next partitions belong to the two z0 nodes. */
    const struct ring_member_spec m[4] = { { "a", "z0" }, { "b", "z0" }, { "c", "z1" }, { "d", "z2" } };
    struct ring *r = NULL;
    ck_assert_int_eq(ring_create(16, N, m, 4, &r), KV_OK);
    uint32_t out[4];
    for (uint32_t p = 0; p < 16; p++) {
        ck_assert_uint_eq(ring_preference_list(r, p, out, 4), 4);
        ck_assert_str_ne(ring_member_zone(r, out[0]), ring_member_zone(r, out[1]));
        ck_assert_str_ne(ring_member_zone(r, out[0]), ring_member_zone(r, out[2]));
        ck_assert_str_ne(ring_member_zone(r, out[1]), ring_member_zone(r, out[2]));
        ck_assert_str_eq(ring_member_zone(r, out[3]), "z0"); /* the fallback */
    }
    ring_free(r);
}
END_TEST

START_TEST(claim_is_deterministic_and_ignores_member_order)
{
    struct ring *a = create(6, 0);
    struct ring *b = create(6, 0);
    ck_assert(ring_equal(a, b));
    make_specs(9, 0);
    struct ring_member_spec rev[9];
    for (int i = 0; i < 9; i++)
        rev[i] = specs[8 - i];
    struct ring *ta = claim(a, specs, 9);
    struct ring *tb = claim(b, rev, 9);
    ck_assert(ring_equal(ta, tb));
    ring_free(ta);
    ring_free(tb);
    ring_free(a);
    ring_free(b);
}
END_TEST

START_TEST(plan_commit_and_transfers_follow_the_claim)
{
    struct ring *cur = create(4, 0);
    make_specs(5, 0);
    /* node00 leaves, node04 joins. */
    struct ring *target = claim(cur, specs + 1, 4);
    struct ring_plan *plan = NULL;
    ck_assert_int_eq(ring_plan(cur, target, &plan), KV_OK);
    ck_assert_uint_eq(plan->n_nodes, 5);
    ck_assert_str_eq(plan->nodes[0].id, "node00");
    ck_assert_uint_eq(plan->nodes[0].after, 0);
    ck_assert_uint_eq(plan->nodes[4].before, 0);
    ck_assert_uint_eq(plan->nodes[4].after, Q / 4);
    uint32_t before = 0, after = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        before += plan->nodes[i].before;
        after += plan->nodes[i].after;
    }
    ck_assert_uint_eq(before, Q);
    ck_assert_uint_eq(after, Q);

    struct ring *next = NULL;
    ck_assert_int_eq(ring_commit(cur, target, &next), KV_OK);
    ck_assert_uint_eq(ring_version(next), ring_version(cur) + 1);
    ck_assert_uint_eq(ring_member_count(next), 5);
    ck_assert_uint_eq(ring_pending_count(next), plan->n_moves);
    for (size_t i = 0; i < plan->n_moves; i++) {
        uint32_t p = plan->moves[i].partition;
        ck_assert_str_eq(ring_member_id(next, ring_owner(next, p)), plan->nodes[plan->moves[i].from].id);
        ck_assert_str_eq(ring_member_id(next, ring_pending(next, p)), plan->nodes[plan->moves[i].to].id);
    }
    /* Finish every transfer: node00 owns nothing and disappears. */
    uint64_t v = ring_version(next);
    for (uint32_t p = 0; p < Q; p++)
        if (ring_pending(next, p) != RING_NO_MEMBER)
            ck_assert_int_eq(ring_transfer_done(next, p), KV_OK);
    ck_assert_int_eq(ring_transfer_done(next, 0), KV_ESTATE);
    ck_assert_uint_eq(ring_version(next), v + plan->n_moves);
    ck_assert_uint_eq(ring_member_count(next), 4);
    uint32_t idx;
    ck_assert_int_eq(ring_member_find(next, "node00", &idx), KV_ENOTFOUND);
    for (uint32_t p = 0; p < Q; p++)
        ck_assert_str_eq(ring_member_id(next, ring_owner(next, p)), ring_member_id(target, ring_owner(target, p)));
    ring_plan_free(plan);
    ring_free(next);
    ring_free(target);
    ring_free(cur);
}
END_TEST

START_TEST(claim_starts_from_pending_owners)
{
    struct ring *cur = create(4, 0);
    make_specs(5, 0);
    struct ring *target = claim(cur, specs, 5);
    struct ring *next = NULL;
    ck_assert_int_eq(ring_commit(cur, target, &next), KV_OK);
    /* Claiming the same set again while transfers are pending changes nothing. */
    struct ring *again = claim(next, specs, 5);
    ck_assert_uint_eq(moves_between(next, again), 0);
    for (uint32_t p = 0; p < Q; p++)
        ck_assert_str_eq(ring_member_id(again, ring_owner(again, p)), ring_member_id(target, ring_owner(target, p)));
    ring_free(again);
    ring_free(next);
    ring_free(target);
    ring_free(cur);
}
END_TEST

static struct ring *ring_with_transfers(void)
{
    struct ring *cur = create(5, 3);
    make_specs(6, 3);
    struct ring *target = claim(cur, specs, 6), *next = NULL;
    ck_assert_int_eq(ring_commit(cur, target, &next), KV_OK);
    ring_free(target);
    ring_free(cur);
    return next;
}

START_TEST(encode_decode_round_trips)
{
    struct ring *r = ring_with_transfers();
    struct kv_buf b = { 0 };
    ck_assert_int_eq(ring_encode(r, &b), KV_OK);
    struct ring *d = NULL;
    ck_assert_int_eq(ring_decode(b.data, b.len, &d), KV_OK);
    ck_assert(ring_equal(r, d));
    ck_assert_uint_gt(ring_pending_count(d), 0);
    ck_assert_str_eq(ring_member_zone(d, 0), "z0");
    /* Same bytes again: the encoding is canonical. */
    struct kv_buf b2 = { 0 };
    ck_assert_int_eq(ring_encode(d, &b2), KV_OK);
    ck_assert_uint_eq(b.len, b2.len);
    ck_assert_int_eq(memcmp(b.data, b2.data, b.len), 0);
    kv_buf_free(&b);
    kv_buf_free(&b2);
    ring_free(d);
    ring_free(r);
}
END_TEST

START_TEST(decode_rejects_every_corruption)
{
    struct ring *r = ring_with_transfers();
    struct kv_buf b = { 0 };
    ck_assert_int_eq(ring_encode(r, &b), KV_OK);
    struct ring *d = NULL;
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b.data[i] ^= (char)(1 << bit);
            ck_assert_int_eq(ring_decode(b.data, b.len, &d), KV_ECORRUPT);
            b.data[i] ^= (char)(1 << bit);
        }
    }
    for (size_t len = 0; len < b.len; len++)
        ck_assert_int_eq(ring_decode(b.data, len, &d), KV_ECORRUPT);
    ck_assert_int_eq(kv_buf_append_byte(&b, 0), KV_OK);
    ck_assert_int_eq(ring_decode(b.data, b.len, &d), KV_ECORRUPT);
    ck_assert_int_eq(ring_decode("garbage!", 8, &d), KV_ECORRUPT);
    ck_assert_ptr_null(d);
    kv_buf_free(&b);
    ring_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, partition_is_top_bits_of_key_hash);
    tcase_add_test(tc, create_rejects_bad_arguments);
    tcase_add_test(tc, new_ring_is_balanced_for_5_to_20_nodes);
    tcase_add_test(tc, new_ring_repeats_no_node_within_n_partitions);
    tcase_add_test(tc, adding_one_node_moves_at_most_share_plus_s);
    tcase_add_test(tc, removing_one_node_moves_at_most_its_share_plus_s);
    tcase_add_test(tc, claim_without_change_moves_nothing);
    tcase_add_test(tc, preference_lists_have_n_distinct_nodes_when_s_at_least_n);
    tcase_add_test(tc, three_zones_each_preference_list_spans_three_zones);
    tcase_add_test(tc, zone_aware_list_skips_a_second_node_of_a_used_zone);
    tcase_add_test(tc, claim_is_deterministic_and_ignores_member_order);
    tcase_add_test(tc, plan_commit_and_transfers_follow_the_claim);
    tcase_add_test(tc, claim_starts_from_pending_owners);
    tcase_add_test(tc, encode_decode_round_trips);
    tcase_add_test(tc, decode_rejects_every_corruption);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
