/* kvctl_aae.c - kvctl repair and aae-status (see kvctl_aae.h). */
#include "client/kvctl_aae.h"

#include <stdio.h>
#include <string.h>

#include "client/kvctl_fmt.h"

static void json_str(const char *s) { kvctl_fmt_json_string(stdout, s, strlen(s)); }

/* Milliseconds for people: "never", "850 ms", "12.3 s", "4.0 min". */
static const char *human_ms(uint64_t ms, bool zero_is_never, char *buf, size_t cap)
{
    if (ms == 0 && zero_is_never)
        snprintf(buf, cap, "never");
    else if (ms < 1000)
        snprintf(buf, cap, "%llu ms", (unsigned long long)ms);
    else if (ms < 120000)
        snprintf(buf, cap, "%.1f s", (double)ms / 1000.0);
    else
        snprintf(buf, cap, "%.1f min", (double)ms / 60000.0);
    return buf;
}

static void print_totals_json(const struct rkv_aae_status *s)
{
    printf("{\"trees\":%llu,\"trees_ready\":%llu,\"tree_bytes\":%llu,\"exchanges_started\":%llu,"
           "\"exchanges_in_sync\":%llu,\"exchanges_repaired\":%llu,\"exchanges_failed\":%llu,"
           "\"exchanges_active\":%llu,\"keys_repaired\":%llu,\"keys_repaired_remote\":%llu,\"bytes_sent\":%llu,"
           "\"bytes_received\":%llu,\"builds\":%llu,\"verify_mismatches\":%llu}",
           (unsigned long long)s->trees, (unsigned long long)s->trees_ready, (unsigned long long)s->tree_bytes,
           (unsigned long long)s->exchanges_started, (unsigned long long)s->exchanges_in_sync,
           (unsigned long long)s->exchanges_repaired, (unsigned long long)s->exchanges_failed,
           (unsigned long long)s->exchanges_active, (unsigned long long)s->keys_repaired,
           (unsigned long long)s->keys_repaired_remote, (unsigned long long)s->bytes_sent,
           (unsigned long long)s->bytes_received, (unsigned long long)s->builds,
           (unsigned long long)s->verify_mismatches);
}

static void print_status_json(const struct rkv_aae_status *s)
{
    printf("{\"node\":");
    json_str(s->node_id);
    printf(",\"totals\":");
    print_totals_json(s);
    printf(",\"partitions\":[");
    for (size_t i = 0; i < s->npartitions; i++) {
        const struct rkv_aae_partition *p = &s->partitions[i];
        printf("%s{\"partition\":%u,\"ready\":%s,\"building\":%s,\"keys\":%llu,\"peers\":[", i ? "," : "",
               p->partition, p->ready ? "true" : "false", p->building ? "true" : "false",
               (unsigned long long)p->keys);
        for (size_t j = 0; j < p->npeers; j++) {
            fputs(j ? "," : "", stdout);
            json_str(p->peers[j]);
        }
        printf("],\"exchanges\":%llu,\"last_exchange_age_ms\":%llu,\"last_peer\":", (unsigned long long)p->exchanges,
               (unsigned long long)p->last_exchange_age_ms);
        json_str(p->last_peer);
        printf(",\"last_status\":");
        json_str(p->exchanges ? (p->last_status == RKV_OK ? "ok" : rkv_strerror(p->last_status)) : "");
        printf(",\"keys_repaired\":%llu,\"synced_age_ms\":%llu,\"next_exchange_in_ms\":%llu}",
               (unsigned long long)p->keys_repaired, (unsigned long long)p->synced_age_ms,
               (unsigned long long)p->next_exchange_in_ms);
    }
    puts("]}");
}

static void print_status_text(const struct rkv_aae_status *s)
{
    char a[32], b[32], c[32];
    printf("anti-entropy on %s: %s\n", s->node_id, s->message);
    printf("%-9s %-8s %9s  %-24s %5s %-11s %-10s %-10s %8s %-9s\n", "partition", "tree", "keys", "peers",
           "exch", "last", "last peer", "result", "repaired", "synced");
    for (size_t i = 0; i < s->npartitions; i++) {
        const struct rkv_aae_partition *p = &s->partitions[i];
        char peers[64] = "";
        for (size_t j = 0; j < p->npeers; j++) {
            size_t used = strlen(peers);
            snprintf(peers + used, sizeof peers - used, "%s%s", j ? "," : "", p->peers[j]);
        }
        printf("%-9u %-8s %9llu  %-24s %5llu %-11s %-10s %-10s %8llu %-9s\n", p->partition,
               p->building ? "building" : p->ready ? "ready" : "waiting", (unsigned long long)p->keys, peers,
               (unsigned long long)p->exchanges, human_ms(p->last_exchange_age_ms, true, a, sizeof a),
               p->last_peer[0] ? p->last_peer : "-",
               !p->exchanges ? "-" : p->last_status == RKV_OK ? "ok" : rkv_strerror(p->last_status),
               (unsigned long long)p->keys_repaired,
               p->npeers ? human_ms(p->synced_age_ms, true, b, sizeof b) : "-");
    }
    printf("totals: %llu trees (%llu ready, %llu bytes), %llu rebuilds, %llu verify mismatches\n",
           (unsigned long long)s->trees, (unsigned long long)s->trees_ready, (unsigned long long)s->tree_bytes,
           (unsigned long long)s->builds, (unsigned long long)s->verify_mismatches);
    printf("exchanges: %llu started, %llu in sync, %llu repaired, %llu failed, %llu running\n",
           (unsigned long long)s->exchanges_started, (unsigned long long)s->exchanges_in_sync,
           (unsigned long long)s->exchanges_repaired, (unsigned long long)s->exchanges_failed,
           (unsigned long long)s->exchanges_active);
    printf("keys repaired: %llu here, %llu on peers; bytes: %llu sent, %llu received\n",
           (unsigned long long)s->keys_repaired, (unsigned long long)s->keys_repaired_remote,
           (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_received);
    (void)c;
}

int kvctl_aae_run(const char *cmd, struct rkv_client *client, const struct rkv_request_options *req, bool json,
                  const char *arg)
{
    bool repair = strcmp(cmd, "repair") == 0;
    struct rkv_aae_status *s = NULL;
    int st = repair ? rkv_aae_repair(client, arg, req, &s) : rkv_aae_status(client, req, &s);
    if (st != RKV_OK)
        return kvctl_fmt_fail(cmd, st, client);
    if (repair && json) {
        printf("{\"node\":");
        json_str(s->node_id);
        printf(",\"scheduled\":%u,\"message\":", s->repairs_scheduled);
        json_str(s->message);
        puts("}");
    } else if (repair) {
        printf("%s\n", s->message);
    } else if (json) {
        print_status_json(s);
    } else {
        print_status_text(s);
    }
    rkv_aae_status_free(s);
    return KVCTL_EXIT_OK;
}
