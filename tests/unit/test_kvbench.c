/* test_kvbench.c - kvbench's latency histogram and key generators (bench/kvbench_hist.h,
 * bench/kvbench_gen.h). The generators are driven by a seeded kv_rand, so every
 * count below is the same on every run. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "bench/kvbench_gen.h"
#include "bench/kvbench_hist.h"

static struct kvb_hist g_h, g_h2;

START_TEST(hist_quantiles_are_within_one_percent)
{
    kvb_hist_reset(&g_h);
    for (uint64_t v = 1; v <= 1000000; v++)
        kvb_hist_record(&g_h, v);
    const double qs[] = { 0.5, 0.95, 0.99, 0.999 };
    for (int i = 0; i < 4; i++) {
        double want = qs[i] * 1e6, got = (double)kvb_hist_quantile(&g_h, qs[i]);
        ck_assert_msg(fabs(got - want) <= 0.01 * want, "q%.3f: %.0f, want %.0f", qs[i], got, want);
    }
    ck_assert_uint_eq(kvb_hist_quantile(&g_h, 1.0), 1000000);
    ck_assert_uint_eq(g_h.count, 1000000);
    ck_assert_uint_eq(g_h.max_ns, 1000000);
}
END_TEST

START_TEST(hist_small_values_are_exact_and_huge_ones_are_kept)
{
    kvb_hist_reset(&g_h);
    ck_assert_uint_eq(kvb_hist_quantile(&g_h, 0.5), 0);  /* empty */
    for (uint64_t v = 0; v < 100; v++)
        kvb_hist_record(&g_h, v);
    ck_assert_uint_eq(kvb_hist_quantile(&g_h, 0.5), 49);
    kvb_hist_record(&g_h, UINT64_MAX / 2);  /* beyond the last octave: last bucket */
    ck_assert_uint_eq(kvb_hist_quantile(&g_h, 1.0), UINT64_MAX / 2);
}
END_TEST

START_TEST(hist_merge_adds_samples)
{
    kvb_hist_reset(&g_h);
    kvb_hist_reset(&g_h2);
    for (int i = 0; i < 90; i++)
        kvb_hist_record(&g_h, 1000);
    for (int i = 0; i < 10; i++)
        kvb_hist_record(&g_h2, 1000000);
    kvb_hist_merge(&g_h, &g_h2);
    ck_assert_uint_eq(g_h.count, 100);
    ck_assert_uint_le(kvb_hist_quantile(&g_h, 0.9), 1010);
    ck_assert_uint_ge(kvb_hist_quantile(&g_h, 0.95), 990000);
    ck_assert_uint_eq(g_h.max_ns, 1000000);
}
END_TEST

START_TEST(fnv64_matches_reference_values)
{
    ck_assert_uint_eq(kvb_fnv64(0), 0xa8c7f832281a39c5ull);
    ck_assert_uint_eq(kvb_fnv64(0x0102030405060708ull), 0x0c6d4496e17859d5ull);
}
END_TEST

START_TEST(zipfian_top_rank_has_probability_one_over_zeta)
{
    struct kv_rand r;
    struct kvb_zipf z;
    kv_rand_seed(&r, 7);
    kvb_zipf_init(&z, 100000);
    int top = 0, n = 400000;
    for (int i = 0; i < n; i++) {
        uint64_t v = kvb_zipf_next(&z, &r);
        ck_assert_uint_lt(v, 100000);
        top += v == 0;
    }
    double want = 1.0 / z.zetan;  /* about 7.8% for 100000 items, theta 0.99 */
    ck_assert_msg(fabs((double)top / n - want) < 0.005, "rank 0: %.4f, want %.4f", (double)top / n, want);
}
END_TEST

START_TEST(zipfian_grows_like_a_fresh_one)
{
    struct kvb_zipf a, b;
    kvb_zipf_init(&a, 1000);
    kvb_zipf_grow(&a, 5000);
    kvb_zipf_init(&b, 5000);
    ck_assert(fabs(a.zetan - b.zetan) < 1e-9);
    ck_assert(fabs(a.eta - b.eta) < 1e-9);
}
END_TEST

START_TEST(scrambled_zipfian_spreads_the_hot_keys)
{
    struct kv_rand r;
    struct kvb_scrambled s;
    kv_rand_seed(&r, 11);
    kvb_scrambled_init(&s, 100000);
    uint32_t *count = calloc(100000, sizeof *count);
    int n = 400000;
    uint64_t hottest = 0;
    for (int i = 0; i < n; i++) {
        uint64_t k = kvb_scrambled_next(&s, &r);
        ck_assert_uint_lt(k, 100000);
        if (++count[k] > count[hottest])
            hottest = k;
    }
    /* The hottest key is rank 0 of 10^10 items: 1 / 26.469 = 3.78% of draws, and it is
     * not key 0 (the scramble moved it). */
    ck_assert_uint_eq(hottest, kvb_fnv64(0) % 100000);
    ck_assert(fabs((double)count[hottest] / n - 1.0 / KVB_ZIPF_SCRAMBLE_ZETAN) < 0.004);
    free(count);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kvbench");
    TCase *tc = tcase_create("kvbench");
    tcase_add_test(tc, hist_quantiles_are_within_one_percent);
    tcase_add_test(tc, hist_small_values_are_exact_and_huge_ones_are_kept);
    tcase_add_test(tc, hist_merge_adds_samples);
    tcase_add_test(tc, fnv64_matches_reference_values);
    tcase_add_test(tc, zipfian_top_rank_has_probability_one_over_zeta);
    tcase_add_test(tc, zipfian_grows_like_a_fresh_one);
    tcase_add_test(tc, scrambled_zipfian_spreads_the_hot_keys);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
