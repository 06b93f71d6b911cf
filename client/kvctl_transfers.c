/*
 * kvctl_transfers.c - kvctl transfers (see kvctl_transfers.h). Progress
 * is bytes sent over the bytes the range held when its stream started
 * (writes during the move can push it past 100%: shown as 100%); the ETA
 * is the bytes left at the stream's rate since its current run started.
 */
#include "client/kvctl_transfers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/kvctl_fmt.h"

#define KVCTL_BAR_WIDTH 20

static void json_str(const char *s) { kvctl_fmt_json_string(stdout, s, strlen(s)); }

static double fraction(const struct rkv_transfer *t)
{
    if (t->done)
        return 1.0;
    if (t->bytes_total == 0)
        return 0.0;
    double f = (double)t->bytes_sent / (double)t->bytes_total;
    return f > 1.0 ? 1.0 : f;
}

static void print_stream(const struct rkv_transfer *t)
{
    char bar[KVCTL_BAR_WIDTH + 1];
    double f = fraction(t);
    int fill = (int)(f * KVCTL_BAR_WIDTH + 0.5);
    for (int i = 0; i < KVCTL_BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[KVCTL_BAR_WIDTH] = 0;
    char eta[32] = "-";
    if (t->rate_bytes_per_sec && t->bytes_total > t->bytes_sent)
        snprintf(eta, sizeof eta, "%llus", (unsigned long long)((t->bytes_total - t->bytes_sent) /
                                                                t->rate_bytes_per_sec + 1));
    printf("%9u  %5u  %-12s  %-12s  %9llu  %11llu  [%s] %3d%%  %9llu/s  %6s%s\n", t->partition, t->range, t->from,
           t->to, (unsigned long long)t->keys_sent, (unsigned long long)t->bytes_sent, bar, (int)(100 * f),
           (unsigned long long)t->rate_bytes_per_sec, eta, t->active ? "" : "  (waiting)");
}

static void json_stream(const struct rkv_transfer *t, bool first)
{
    printf("%s{\"partition\":%u,\"range\":%u,\"from\":", first ? "" : ",", t->partition, t->range);
    json_str(t->from);
    printf(",\"to\":");
    json_str(t->to);
    printf(",\"active\":%s,\"done\":%s,\"keys_sent\":%llu,\"bytes_sent\":%llu,\"keys_total\":%llu,"
           "\"bytes_total\":%llu,\"rate_bytes_per_sec\":%llu}",
           t->active ? "true" : "false", t->done ? "true" : "false", (unsigned long long)t->keys_sent,
           (unsigned long long)t->bytes_sent, (unsigned long long)t->keys_total,
           (unsigned long long)t->bytes_total, (unsigned long long)t->rate_bytes_per_sec);
}

static void json_node(const struct rkv_transfers *x, bool first)
{
    printf("%s{\"node\":", first ? "" : ",");
    json_str(x->node_id);
    printf(",\"streams_planned\":%llu,\"streams_active\":%llu,\"streams_completed\":%llu,"
           "\"partitions_completed\":%llu,\"keys_sent\":%llu,\"bytes_sent\":%llu,\"keys_received\":%llu,"
           "\"bytes_received\":%llu,\"forwards_sent\":%llu,\"bytes_per_sec\":%llu}",
           (unsigned long long)x->streams_planned, (unsigned long long)x->streams_active,
           (unsigned long long)x->streams_completed, (unsigned long long)x->partitions_completed,
           (unsigned long long)x->keys_sent, (unsigned long long)x->bytes_sent,
           (unsigned long long)x->keys_received, (unsigned long long)x->bytes_received,
           (unsigned long long)x->forwards_sent, (unsigned long long)x->bytes_per_sec);
}

static bool member_live(const char *state)
{
    return strcmp(state, "alive") == 0 || strcmp(state, "suspect") == 0 || strcmp(state, "leaving") == 0;
}

/* rkv_transfers of every live member; failures are named on stderr. */
static size_t collect(const struct rkv_admin_result *m, const struct rkv_options *opts,
                      const struct rkv_request_options *req, struct rkv_transfers **out, bool *partial)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nmembers; i++) {
        if (!member_live(m->members[i].state))
            continue;
        const char *host = m->members[i].addr;
        struct rkv_client *c = NULL;
        int rc = rkv_connect(&host, 1, opts, &c);
        if (rc == RKV_OK)
            rc = rkv_transfers(c, req, &out[n]);
        if (rc == RKV_OK) {
            n++;
        } else {
            *partial = true;
            fprintf(stderr, "kvctl: transfers: %s (%s): %s%s%s\n", m->members[i].id, host, rkv_strerror(rc),
                    c && rkv_last_error(c)[0] ? ": " : "", c ? rkv_last_error(c) : "");
        }
        rkv_close(c);
    }
    return n;
}

static void print_text(struct rkv_transfers **x, size_t n)
{
    size_t open = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < x[i]->nstreams; j++)
            x[i]->streams[j].done ? done++ : open++;
    if (open + done == 0)
        printf("no transfers: every partition is with its owner\n");
    else
        printf("%zu stream%s in progress, %zu done\n", open, open == 1 ? "" : "s", done);
    if (open) {
        printf("%9s  %5s  %-12s  %-12s  %9s  %11s  %-22s %4s  %11s  %6s\n", "PARTITION", "RANGE", "FROM", "TO", "KEYS",
               "BYTES", "PROGRESS", "", "RATE", "ETA");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < x[i]->nstreams; j++)
                if (!x[i]->streams[j].done)
                    print_stream(&x[i]->streams[j]);
    }
    printf("%-12s  %7s  %6s  %8s  %10s  %12s  %10s  %12s\n", "NODE", "STREAMS", "ACTIVE", "FINISHED", "KEYS OUT",
           "BYTES OUT", "KEYS IN", "BUDGET/s");
    for (size_t i = 0; i < n; i++)
        printf("%-12s  %7llu  %6llu  %8llu  %10llu  %12llu  %10llu  %12llu\n", x[i]->node_id,
               (unsigned long long)x[i]->streams_planned, (unsigned long long)x[i]->streams_active,
               (unsigned long long)x[i]->partitions_completed, (unsigned long long)x[i]->keys_sent,
               (unsigned long long)x[i]->bytes_sent, (unsigned long long)x[i]->keys_received,
               (unsigned long long)x[i]->bytes_per_sec);
}

int kvctl_transfers_run(struct rkv_client *client, const struct rkv_options *opts,
                        const struct rkv_request_options *req, bool json)
{
    struct rkv_admin_result *m = NULL;
    int rc = rkv_admin(client, RKV_ADMIN_MEMBERS, NULL, req, &m);
    if (rc != RKV_OK)
        return kvctl_fmt_fail("transfers", rc, client);
    struct rkv_transfers **x = calloc(m->nmembers ? m->nmembers : 1, sizeof *x);
    if (!x) {
        rkv_admin_result_free(m);
        fprintf(stderr, "kvctl: transfers: out of memory\n");
        return KVCTL_EXIT_FAILED;
    }
    bool partial = false;
    size_t n = collect(m, opts, req, x, &partial);
    if (json) {
        printf("{\"streams\":[");
        bool first = true;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < x[i]->nstreams; j++, first = false)
                json_stream(&x[i]->streams[j], first);
        printf("],\"nodes\":[");
        for (size_t i = 0; i < n; i++)
            json_node(x[i], i == 0);
        printf("]}\n");
    } else {
        print_text(x, n);
    }
    for (size_t i = 0; i < n; i++)
        rkv_transfers_free(x[i]);
    free(x);
    rkv_admin_result_free(m);
    return partial ? KVCTL_EXIT_FAILED : KVCTL_EXIT_OK;
}
