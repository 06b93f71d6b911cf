/* kvctl_local.c - kvctl local-get (see kvctl_local.h). */
#include "client/kvctl_local.h"

#include <stdio.h>
#include <string.h>

#include "client/kvctl_fmt.h"

static void print_text(const char *key, const struct rkv_local_object *r)
{
    printf("node %s, key partition %u\n", r->node_id, r->partition);
    if (!r->held)
        printf("replica: nothing stored\n");
    for (size_t i = 0; i < r->ncopies; i++) {
        const struct rkv_local_copy *c = &r->copies[i];
        if (c->hint_for[0])
            printf("hint for %s (stored at %llu ms): %zu sibling%s, %llu bytes\n", c->hint_for,
                   (unsigned long long)c->hint_stored_at_ms, c->nsiblings, c->nsiblings == 1 ? "" : "s",
                   (unsigned long long)c->object_bytes);
        else
            printf("replica: %zu sibling%s, %llu bytes\n", c->nsiblings, c->nsiblings == 1 ? "" : "s",
                   (unsigned long long)c->object_bytes);
        for (size_t j = 0; j < c->nsiblings; j++) {
            const struct rkv_local_sibling *s = &c->siblings[j];
            printf("  sibling %zu: dot %016llx:%llu", j + 1, (unsigned long long)s->dot_actor,
                   (unsigned long long)s->dot_counter);
            if (s->tombstone)
                printf(" tombstone");
            else
                printf(" %s%s(%zu bytes) ", s->counter ? "counter " : "", s->expired ? "expired " : "",
                       s->value_len);
            if (!s->tombstone && kvctl_fmt_utf8_valid(s->value, s->value_len))
                kvctl_fmt_json_string(stdout, s->value, s->value_len);
            if (s->expires_at_ms)
                printf(" expires_at_ms=%llu", (unsigned long long)s->expires_at_ms);
            if (s->stamp_ms)
                printf(" stamp_ms=%llu", (unsigned long long)s->stamp_ms);
            fputc('\n', stdout);
        }
        printf("  clock:");
        for (size_t j = 0; j < c->nclock; j++)
            printf(" %016llx:%llu%s", (unsigned long long)c->clock[j].actor, (unsigned long long)c->clock[j].counter,
                   c->clock[j].self ? "(self)" : "");
        fputc('\n', stdout);
    }
    (void)key;
}

static void print_json(const char *key, const struct rkv_local_object *r)
{
    printf("{\"node\":");
    kvctl_fmt_json_string(stdout, r->node_id, strlen(r->node_id));
    fputc(',', stdout);
    kvctl_fmt_json_bytes(stdout, "key", key, strlen(key));
    printf(",\"partition\":%u,\"held\":%s,\"live\":%zu,\"tombstone\":%s,\"copies\":[", r->partition,
           r->held ? "true" : "false", r->live, r->tombstone ? "true" : "false");
    for (size_t i = 0; i < r->ncopies; i++) {
        const struct rkv_local_copy *c = &r->copies[i];
        printf("%s{\"hint_for\":", i ? "," : "");
        kvctl_fmt_json_string(stdout, c->hint_for, strlen(c->hint_for));
        printf(",\"hint_stored_at_ms\":%llu,\"object_bytes\":%llu,\"siblings\":[",
               (unsigned long long)c->hint_stored_at_ms, (unsigned long long)c->object_bytes);
        for (size_t j = 0; j < c->nsiblings; j++) {
            const struct rkv_local_sibling *s = &c->siblings[j];
            fputs(j ? ",{" : "{", stdout);
            kvctl_fmt_json_bytes(stdout, "value", s->value, s->value_len);
            printf(",\"tombstone\":%s,\"counter\":%s,\"expired\":%s,\"expires_at_ms\":%llu,\"stamp_ms\":%llu,"
                   "\"dot\":\"%016llx:%llu\"}",
                   s->tombstone ? "true" : "false", s->counter ? "true" : "false", s->expired ? "true" : "false",
                   (unsigned long long)s->expires_at_ms, (unsigned long long)s->stamp_ms,
                   (unsigned long long)s->dot_actor, (unsigned long long)s->dot_counter);
        }
        printf("],\"clock\":[");
        for (size_t j = 0; j < c->nclock; j++)
            printf("%s{\"actor\":\"%016llx\",\"counter\":%llu,\"self\":%s}", j ? "," : "",
                   (unsigned long long)c->clock[j].actor, (unsigned long long)c->clock[j].counter,
                   c->clock[j].self ? "true" : "false");
        printf("]}");
    }
    puts("]}");
}

int kvctl_local_run(struct rkv_client *client, const struct rkv_request_options *req, bool json, const char *key)
{
    struct rkv_local_object *r = NULL;
    int st = rkv_admin_local_get(client, key, req, &r);
    if (st != RKV_OK)
        return kvctl_fmt_fail("local-get", st, client);
    if (json)
        print_json(key, r);
    else
        print_text(key, r);
    int rc = r->live ? KVCTL_EXIT_OK : KVCTL_EXIT_NOT_FOUND;
    if (!r->live && !json)
        fprintf(stderr, "kvctl: local-get: %s holds %s\n", r->node_id,
                r->tombstone ? "only a tombstone" : r->held ? "only expired values" : "nothing");
    rkv_local_object_free(r);
    return rc;
}
