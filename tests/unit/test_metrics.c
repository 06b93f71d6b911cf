/* test_metrics.c - histogram buckets, registry identity and the Prometheus
 * text rendering of counters, gauges and histograms. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/metrics.h"

START_TEST(bucket_bounds_are_powers_of_two_microseconds)
{
    ck_assert_uint_eq(metrics_histogram_bucket(0), 0);
    ck_assert_uint_eq(metrics_histogram_bucket(1), 0);
    ck_assert_uint_eq(metrics_histogram_bucket(2), 1);
    ck_assert_uint_eq(metrics_histogram_bucket(3), 2);
    ck_assert_uint_eq(metrics_histogram_bucket(4), 2);
    ck_assert_uint_eq(metrics_histogram_bucket(5), 3);
    ck_assert_uint_eq(metrics_histogram_bucket(1u << 24), 24);
    ck_assert_uint_eq(metrics_histogram_bucket((1u << 24) + 1), METRICS_HISTOGRAM_FINITE_BUCKETS);
    ck_assert_uint_eq(metrics_histogram_bucket(UINT64_MAX), METRICS_HISTOGRAM_FINITE_BUCKETS);
}
END_TEST

START_TEST(quantile_reports_the_bucket_upper_bound)
{
    struct metrics_histogram h = { 0 };
    ck_assert_uint_eq(metrics_histogram_quantile_us(&h, 0.99), 0);
    for (int i = 0; i < 98; i++)
        metrics_histogram_observe(&h, 100);   /* bucket le=128 */
    metrics_histogram_observe(&h, 1000);      /* le=1024 */
    metrics_histogram_observe(&h, 100000000); /* +Inf */
    ck_assert_uint_eq(metrics_histogram_quantile_us(&h, 0.5), 128);
    ck_assert_uint_eq(metrics_histogram_quantile_us(&h, 0.99), 1024);
    ck_assert_uint_eq(metrics_histogram_quantile_us(&h, 1.0), UINT64_MAX);
    ck_assert_uint_eq(h.count, 100);
    ck_assert_uint_eq(h.sum_us, 98 * 100 + 1000 + 100000000ull);
}
END_TEST

START_TEST(registering_twice_returns_the_same_series)
{
    struct metrics *m;
    ck_assert_int_eq(metrics_new(&m), KV_OK);
    uint64_t *a, *b, *c;
    ck_assert_int_eq(metrics_counter(m, "x_total", "X.", "k=\"1\"", &a), KV_OK);
    ck_assert_int_eq(metrics_counter(m, "x_total", "X.", "k=\"1\"", &b), KV_OK);
    ck_assert_int_eq(metrics_counter(m, "x_total", "X.", "k=\"2\"", &c), KV_OK);
    ck_assert_ptr_eq(a, b);
    ck_assert_ptr_ne(a, c);
    /* Many families later (the family array grows), the pointer still works. */
    for (int i = 0; i < 100; i++) {
        char name[32];
        double *g;
        snprintf(name, sizeof name, "g%d", i);
        ck_assert_int_eq(metrics_gauge(m, name, "G.", "", &g), KV_OK);
    }
    (*a)++;
    ck_assert_int_eq(metrics_counter(m, "x_total", "X.", "k=\"1\"", &b), KV_OK);
    ck_assert_uint_eq(*b, 1);
    metrics_free(m);
}
END_TEST

START_TEST(bad_names_and_type_clashes_are_refused)
{
    struct metrics *m;
    ck_assert_int_eq(metrics_new(&m), KV_OK);
    uint64_t *c;
    double *g;
    ck_assert_int_eq(metrics_counter(m, "9lives", "", "", &c), KV_EINVAL);
    ck_assert_int_eq(metrics_counter(m, "has space", "", "", &c), KV_EINVAL);
    ck_assert_int_eq(metrics_counter(m, "", "", "", &c), KV_EINVAL);
    ck_assert_int_eq(metrics_counter(m, "ok:name_1", "", "", &c), KV_OK);
    ck_assert_int_eq(metrics_gauge(m, "ok:name_1", "", "", &g), KV_EINVAL);
    metrics_free(m);
}
END_TEST

START_TEST(render_follows_the_text_format)
{
    struct metrics *m;
    ck_assert_int_eq(metrics_new(&m), KV_OK);
    uint64_t *req;
    double *open;
    struct metrics_histogram *lat;
    ck_assert_int_eq(metrics_counter(m, "rk_requests_total", "Requests.\nBy cmd \\ status.",
                                     "cmd=\"get\",status=\"ok\"", &req), KV_OK);
    ck_assert_int_eq(metrics_gauge(m, "rk_open", "Open connections.", "", &open), KV_OK);
    ck_assert_int_eq(metrics_histogram(m, "rk_seconds", "Latency.", "cmd=\"get\"", &lat), KV_OK);
    *req = 3;
    *open = 2;
    metrics_histogram_observe(lat, 3);
    metrics_histogram_observe(lat, 20);
    struct kv_buf out = { 0 };
    ck_assert_int_eq(metrics_render(m, &out), KV_OK);
    const char *want[] = {
        "# HELP rk_requests_total Requests.\\nBy cmd \\\\ status.\n# TYPE rk_requests_total counter\n"
        "rk_requests_total{cmd=\"get\",status=\"ok\"} 3\n",
        "# TYPE rk_open gauge\nrk_open 2\n",
        "# TYPE rk_seconds histogram\n",
        "rk_seconds_bucket{cmd=\"get\",le=\"0.000002\"} 0\n",
        "rk_seconds_bucket{cmd=\"get\",le=\"0.000004\"} 1\n",
        "rk_seconds_bucket{cmd=\"get\",le=\"0.000032\"} 2\n",
        "rk_seconds_bucket{cmd=\"get\",le=\"16.777216\"} 2\n",
        "rk_seconds_bucket{cmd=\"get\",le=\"+Inf\"} 2\n",
        "rk_seconds_sum{cmd=\"get\"} 0.000023\n",
        "rk_seconds_count{cmd=\"get\"} 2\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out.data, want[i]), "missing:\n%s\nin:\n%s", want[i], out.data);
    kv_buf_free(&out);
    metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, bucket_bounds_are_powers_of_two_microseconds);
    tcase_add_test(tc, quantile_reports_the_bucket_upper_bound);
    tcase_add_test(tc, registering_twice_returns_the_same_series);
    tcase_add_test(tc, bad_names_and_type_clashes_are_refused);
    tcase_add_test(tc, render_follows_the_text_format);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
