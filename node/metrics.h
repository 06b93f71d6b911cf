/*
 * metrics.h - counters, gauges and latency histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A struct metrics is a registry of families (one metric name, its help
 * text and type) each holding series (one label set). Registration hands
 * out a stable pointer to the series' value; the hot path updates it
 * directly (an increment, no lookup). Register everything at start-up;
 * registering the same name and labels again returns the same series.
 *
 * Histograms have fixed log-spaced buckets: bucket i counts observations
 * of at most 2^i microseconds, i = 0..METRICS_HISTOGRAM_FINITE_BUCKETS-1
 * (1 us .. 2^24 us = 16.8 s), and one more bucket for anything longer
 * (+Inf). observe() is a count-leading-zeros and three increments.
 * Rendered bucket bounds and sums are in seconds, as Prometheus expects:
 *
 *     # HELP ringkv_request_duration_seconds Time from parse to reply.
 *     # TYPE ringkv_request_duration_seconds histogram
 *     ringkv_request_duration_seconds_bucket{cmd="get",le="0.000001"} 0
 *     ...
 *     ringkv_request_duration_seconds_bucket{cmd="get",le="+Inf"} 12
 *     ringkv_request_duration_seconds_sum{cmd="get"} 0.000312
 *     ringkv_request_duration_seconds_count{cmd="get"} 12
 *
 * Threading: none. The registry and its values belong to one thread (the
 * node's event loop); values of other threads (engine stats) are copied in
 * by that thread just before rendering.
 * Labels: the caller passes the text between the braces, already valid
 * (`cmd="get",status="ok"`; values without '"', '\' or newlines), or "".
 */
#ifndef RINGKV_NODE_METRICS_H
#define RINGKV_NODE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"

#define METRICS_HISTOGRAM_FINITE_BUCKETS 25   /* le = 2^0 .. 2^24 us */
#define METRICS_HISTOGRAM_BUCKETS (METRICS_HISTOGRAM_FINITE_BUCKETS + 1) /* + the +Inf bucket */
#define METRICS_NAME_BYTES_MAX 128

struct metrics_histogram {
    uint64_t buckets[METRICS_HISTOGRAM_BUCKETS];  /* per bucket, not cumulative */
    uint64_t count;
    uint64_t sum_us;
};

/* Index of the bucket that counts a value of `us` microseconds. */
static inline unsigned metrics_histogram_bucket(uint64_t us)
{
    if (us <= 1)
        return 0;
    unsigned i = 64u - (unsigned)__builtin_clzll(us - 1); /* ceil(log2(us)) */
    return i < METRICS_HISTOGRAM_FINITE_BUCKETS ? i : METRICS_HISTOGRAM_FINITE_BUCKETS;
}

static inline void metrics_histogram_observe(struct metrics_histogram *h, uint64_t us)
{
    h->buckets[metrics_histogram_bucket(us)]++;
    h->count++;
    h->sum_us += us;
}

/* The smallest v such that at least fraction q (0..1) of the observations
 * are <= v, as a bucket upper bound in us (UINT64_MAX: the +Inf bucket;
 * 0 when empty). For INFO-style summaries; coarse by construction. */
uint64_t metrics_histogram_quantile_us(const struct metrics_histogram *h, double q);

struct metrics;

int metrics_new(struct metrics **out) KV_MUST_USE;
void metrics_free(struct metrics *m);

/*
 * Register (or find) a series and return a pointer to its value, valid
 * until metrics_free. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be
 * shorter than METRICS_NAME_BYTES_MAX; help is one line of text. KV_EINVAL
 * if the name is malformed or already registered with another type;
 * KV_ENOMEM. The strings are copied.
 */
int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels,
                    uint64_t **out) KV_MUST_USE;
int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
                  double **out) KV_MUST_USE;
int metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                      struct metrics_histogram **out) KV_MUST_USE;

/* Appends every family, in registration order, in the text format. */
int metrics_render(const struct metrics *m, struct kv_buf *out) KV_MUST_USE;

/* ---- the families every kvnode listener keeps, labelled listener="..." ---- */

struct metrics_listener {
    uint64_t *accepted;         /* ringkv_connections_accepted_total */
    uint64_t *refused;          /* ringkv_connections_refused_total: over max-connections */
    uint64_t *closed;           /* ringkv_connections_closed_total */
    double *open;               /* ringkv_connections_open */
    uint64_t *bytes_in;         /* ringkv_bytes_received_total */
    uint64_t *bytes_out;        /* ringkv_bytes_sent_total */
    uint64_t *protocol_errors;  /* ringkv_protocol_errors_total: closed for breaking the protocol */
    uint64_t *timeouts;         /* ringkv_connection_timeouts_total: idle or slow-command closes */
};
int metrics_listener_register(struct metrics *m, const char *listener,
                              struct metrics_listener *out) KV_MUST_USE;

/* One command of one listener: ringkv_requests_total{listener,cmd,status="ok"|"error"}
 * and ringkv_request_duration_seconds{listener,cmd}. */
struct metrics_request {
    uint64_t *ok;
    uint64_t *error;
    struct metrics_histogram *latency;
};
int metrics_request_register(struct metrics *m, const char *listener, const char *cmd,
                             struct metrics_request *out) KV_MUST_USE;

static inline void metrics_request_done(const struct metrics_request *r, bool ok, uint64_t us)
{
    (*(ok ? r->ok : r->error))++;
    metrics_histogram_observe(r->latency, us);
}

#endif
