/* metrics.c - see metrics.h. Registration allocates; updates never do.
 * Rendering is O(series x buckets) and runs once per scrape. */
#include "node/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_series {
    char *labels;
    union {
        uint64_t counter;
        double gauge;
        struct metrics_histogram hist;
    } v;
    struct metrics_series *next;
};

struct metrics_family {
    char *name;
    char *help;
    enum metrics_type type;
    struct metrics_series *first, *last;
};

struct metrics {
    struct metrics_family *families;
    size_t count, cap;
};

int metrics_new(struct metrics **out)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return KV_ENOMEM;
    *out = m;
    return KV_OK;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++) {
        struct metrics_series *s = m->families[i].first;
        while (s) {
            struct metrics_series *next = s->next;
            free(s->labels);
            free(s);
            s = next;
        }
        free(m->families[i].name);
        free(m->families[i].help);
    }
    free(m->families);
    free(m);
}

static bool metrics_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= METRICS_NAME_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static int metrics_family_get(struct metrics *m, const char *name, const char *help,
                              enum metrics_type type, struct metrics_family **out)
{
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->families[i].name, name) == 0) {
            if (m->families[i].type != type)
                return KV_EINVAL;
            *out = &m->families[i];
            return KV_OK;
        }
    }
    if (!metrics_name_valid(name))
        return KV_EINVAL;
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct metrics_family *f = realloc(m->families, cap * sizeof *f);
        if (!f)
            return KV_ENOMEM;
        m->families = f;
        m->cap = cap;
    }
    struct metrics_family *f = &m->families[m->count];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->help = strdup(help);
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        return KV_ENOMEM;
    }
    f->type = type;
    m->count++;
    *out = f;
    return KV_OK;
}

/* Series pointers stay valid: series are separately allocated, and
 * families (which move when the array grows) only point to them. */
static int metrics_series_get(struct metrics *m, const char *name, const char *help,
                              const char *labels, enum metrics_type type,
                              struct metrics_series **out)
{
    struct metrics_family *f;
    int rc = metrics_family_get(m, name, help, type, &f);
    if (rc != KV_OK)
        return rc;
    for (struct metrics_series *s = f->first; s; s = s->next) {
        if (strcmp(s->labels, labels) == 0) {
            *out = s;
            return KV_OK;
        }
    }
    struct metrics_series *s = calloc(1, sizeof *s);
    if (!s)
        return KV_ENOMEM;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return KV_ENOMEM;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    *out = s;
    return KV_OK;
}

int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels,
                    uint64_t **out)
{
    struct metrics_series *s;
    int rc = metrics_series_get(m, name, help, labels, METRICS_COUNTER, &s);
    if (rc == KV_OK)
        *out = &s->v.counter;
    return rc;
}

int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
                  double **out)
{
    struct metrics_series *s;
    int rc = metrics_series_get(m, name, help, labels, METRICS_GAUGE, &s);
    if (rc == KV_OK)
        *out = &s->v.gauge;
    return rc;
}

int metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                      struct metrics_histogram **out)
{
    struct metrics_series *s;
    int rc = metrics_series_get(m, name, help, labels, METRICS_HISTOGRAM, &s);
    if (rc == KV_OK)
        *out = &s->v.hist;
    return rc;
}

uint64_t metrics_histogram_quantile_us(const struct metrics_histogram *h, double q)
{
    if (h->count == 0)
        return 0;
    double want = q * (double)h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < METRICS_HISTOGRAM_FINITE_BUCKETS; i++) {
        seen += h->buckets[i];
        if ((double)seen >= want)
            return (uint64_t)1 << i;
    }
    return UINT64_MAX;
}

/* "{labels}" or "{labels,extra}" or "" when both are empty. */
static int metrics_labels(struct kv_buf *out, const char *labels, const char *extra)
{
    if (!*labels && !*extra)
        return KV_OK;
    return kv_buf_appendf(out, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
}

/* HELP text escapes '\' and newline (text format 0.0.4). */
static int metrics_help(struct kv_buf *out, const struct metrics_family *f)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    int rc = kv_buf_appendf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; rc == KV_OK && *p; p++) {
        if (*p == '\\')
            rc = kv_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            rc = kv_buf_append(out, "\\n", 2);
        else
            rc = kv_buf_append_byte(out, *p);
    }
    if (rc == KV_OK)
        rc = kv_buf_appendf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
    return rc;
}

static int metrics_render_histogram(struct kv_buf *out, const char *name,
                                    const struct metrics_series *s)
{
    const struct metrics_histogram *h = &s->v.hist;
    uint64_t cumulative = 0;
    int rc = KV_OK;
    for (unsigned i = 0; rc == KV_OK && i < METRICS_HISTOGRAM_BUCKETS; i++) {
        char le[48];
        if (i < METRICS_HISTOGRAM_FINITE_BUCKETS)
            snprintf(le, sizeof le, "le=\"%.6f\"", (double)((uint64_t)1 << i) / 1e6);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        cumulative += h->buckets[i];
        rc = kv_buf_appendf(out, "%s_bucket", name);
        if (rc == KV_OK)
            rc = metrics_labels(out, s->labels, le);
        if (rc == KV_OK)
            rc = kv_buf_appendf(out, " %llu\n", (unsigned long long)cumulative);
    }
    if (rc == KV_OK)
        rc = kv_buf_appendf(out, "%s_sum", name);
    if (rc == KV_OK)
        rc = metrics_labels(out, s->labels, "");
    if (rc == KV_OK)
        rc = kv_buf_appendf(out, " %.6f\n%s_count", (double)h->sum_us / 1e6, name);
    if (rc == KV_OK)
        rc = metrics_labels(out, s->labels, "");
    if (rc == KV_OK)
        rc = kv_buf_appendf(out, " %llu\n", (unsigned long long)h->count);
    return rc;
}

static int metrics_render_series(struct kv_buf *out, const struct metrics_family *f,
                                 const struct metrics_series *s)
{
    if (f->type == METRICS_HISTOGRAM)
        return metrics_render_histogram(out, f->name, s);
    int rc = kv_buf_append(out, f->name, strlen(f->name));
    if (rc == KV_OK)
        rc = metrics_labels(out, s->labels, "");
    if (rc != KV_OK)
        return rc;
    if (f->type == METRICS_COUNTER)
        return kv_buf_appendf(out, " %llu\n", (unsigned long long)s->v.counter);
    return kv_buf_appendf(out, " %.17g\n", s->v.gauge);
}

int metrics_render(const struct metrics *m, struct kv_buf *out)
{
    int rc = KV_OK;
    for (size_t i = 0; rc == KV_OK && i < m->count; i++) {
        const struct metrics_family *f = &m->families[i];
        rc = metrics_help(out, f);
        for (const struct metrics_series *s = f->first; rc == KV_OK && s; s = s->next)
            rc = metrics_render_series(out, f, s);
    }
    return rc;
}

int metrics_listener_register(struct metrics *m, const char *listener, struct metrics_listener *out)
{
    char l[96];
    snprintf(l, sizeof l, "listener=\"%s\"", listener);
    struct metrics_listener r;
    int rc = metrics_counter(m, "ringkv_connections_accepted_total", "Connections accepted.", l,
                             &r.accepted);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_connections_refused_total",
                             "Connections refused because the listener was at max-connections.", l,
                             &r.refused);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_connections_closed_total", "Connections closed.", l, &r.closed);
    if (rc == KV_OK)
        rc = metrics_gauge(m, "ringkv_connections_open", "Connections open now.", l, &r.open);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_bytes_received_total", "Bytes read from clients.", l,
                             &r.bytes_in);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_bytes_sent_total", "Bytes written to clients.", l, &r.bytes_out);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_protocol_errors_total",
                             "Connections closed because the peer broke the protocol.", l,
                             &r.protocol_errors);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_connection_timeouts_total",
                             "Connections closed by the idle or the slow-command timeout.", l,
                             &r.timeouts);
    if (rc == KV_OK)
        *out = r;
    return rc;
}

int metrics_request_register(struct metrics *m, const char *listener, const char *cmd,
                             struct metrics_request *out)
{
    static const char req_help[] = "Requests by listener, command and outcome.";
    char l[160];
    struct metrics_request r;
    snprintf(l, sizeof l, "listener=\"%s\",cmd=\"%s\",status=\"ok\"", listener, cmd);
    int rc = metrics_counter(m, "ringkv_requests_total", req_help, l, &r.ok);
    snprintf(l, sizeof l, "listener=\"%s\",cmd=\"%s\",status=\"error\"", listener, cmd);
    if (rc == KV_OK)
        rc = metrics_counter(m, "ringkv_requests_total", req_help, l, &r.error);
    snprintf(l, sizeof l, "listener=\"%s\",cmd=\"%s\"", listener, cmd);
    if (rc == KV_OK)
        rc = metrics_histogram(m, "ringkv_request_duration_seconds",
                               "Time from a request's arrival to its reply.", l, &r.latency);
    if (rc == KV_OK)
        *out = r;
    return rc;
}
