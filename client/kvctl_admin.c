/*
 * kvctl_admin.c - kvctl's cluster commands (see kvctl_admin.h). Text
 * output is aligned columns for people; --json output is one object per
 * command whose field names follow kv.proto's Admin messages.
 */
#include "client/kvctl_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/kvctl_fmt.h"

#define KVCTL_ADMIN_COLUMN_MAX 64

static void json_str(const char *s) { kvctl_fmt_json_string(stdout, s, strlen(s)); }

static void json_key(const char *key, bool first)
{
    if (!first)
        fputc(',', stdout);
    json_str(key);
    fputc(':', stdout);
}

static int width(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? (n < KVCTL_ADMIN_COLUMN_MAX ? n : KVCTL_ADMIN_COLUMN_MAX) : w;
}

/* ---- members ---- */

static void members_text(const struct rkv_admin_result *r)
{
    int wid = 2, waddr = 7, wzone = 4;
    for (size_t i = 0; i < r->nmembers; i++) {
        wid = width(wid, r->members[i].id);
        waddr = width(waddr, r->members[i].addr);
        wzone = width(wzone, r->members[i].zone[0] ? r->members[i].zone : "-");
    }
    printf("%-*s  %-*s  %-*s  %-7s  %11s  %4s  %10s\n", wid, "ID", waddr, "ADDRESS", wzone, "ZONE", "STATE",
           "INCARNATION", "RING", "PARTITIONS");
    for (size_t i = 0; i < r->nmembers; i++) {
        const struct rkv_member *m = &r->members[i];
        printf("%-*s  %-*s  %-*s  %-7s  %11llu  %4llu  %10u\n", wid, m->id, waddr, m->addr, wzone,
               m->zone[0] ? m->zone : "-", m->state, (unsigned long long)m->incarnation,
               (unsigned long long)m->ring_version, m->partitions);
    }
}

static void members_json(const struct rkv_admin_result *r)
{
    printf("{\"node\":");
    json_str(r->node_id);
    printf(",\"members\":[");
    for (size_t i = 0; i < r->nmembers; i++) {
        const struct rkv_member *m = &r->members[i];
        printf("%s{\"id\":", i ? "," : "");
        json_str(m->id);
        json_key("addr", false);
        json_str(m->addr);
        json_key("zone", false);
        json_str(m->zone);
        json_key("state", false);
        json_str(m->state);
        printf(",\"incarnation\":%llu,\"ring_version\":%llu,\"partitions\":%u}", (unsigned long long)m->incarnation,
               (unsigned long long)m->ring_version, m->partitions);
    }
    printf("]}\n");
}

/* ---- ring ---- */

static double share(uint32_t owned, uint32_t q) { return q ? (double)owned / (double)q : 0.0; }

static void ring_text(const struct rkv_admin_result *r)
{
    const struct rkv_ring_info *g = &r->ring;
    if (g->version == 0) {
        printf("%s has no ring yet\n", r->node_id);
        return;
    }
    printf("ring version %llu on %s: %u partitions, %u replicas, %u partitions in transfer\n",
           (unsigned long long)g->version, r->node_id, g->partitions, g->n_val, g->in_transfer);
    int wid = 4, wzone = 4;
    for (size_t i = 0; i < g->nnodes; i++) {
        wid = width(wid, g->nodes[i].id);
        wzone = width(wzone, g->nodes[i].zone[0] ? g->nodes[i].zone : "-");
    }
    printf("%-*s  %-*s  %5s  %6s  %5s  %4s  %4s\n", wid, "NODE", wzone, "ZONE", "OWNED", "SHARE", "AFTER", "IN",
           "OUT");
    for (size_t i = 0; i < g->nnodes; i++) {
        const struct rkv_ring_share *s = &g->nodes[i];
        printf("%-*s  %-*s  %5u  %5.1f%%  %5u  %4u  %4u\n", wid, s->id, wzone, s->zone[0] ? s->zone : "-",
               s->owned, 100.0 * share(s->owned, g->partitions), s->owned_after, s->incoming, s->outgoing);
    }
    if (g->ntransfers)
        printf("in transfer (partition: from -> to; kvctl transfers shows progress):\n");
    for (size_t i = 0; i < g->ntransfers; i++)
        printf("  %5u: %s -> %s\n", g->transfers[i].partition, g->transfers[i].from, g->transfers[i].to);
}

static void ring_json_fields(const struct rkv_ring_info *g)
{
    printf(",\"version\":%llu,\"partitions\":%u,\"n_val\":%u,\"in_transfer\":%u,\"nodes\":[",
           (unsigned long long)g->version, g->partitions, g->n_val, g->in_transfer);
    for (size_t i = 0; i < g->nnodes; i++) {
        const struct rkv_ring_share *s = &g->nodes[i];
        printf("%s{\"id\":", i ? "," : "");
        json_str(s->id);
        json_key("zone", false);
        json_str(s->zone);
        printf(",\"owned\":%u,\"share\":%.4f,\"owned_after\":%u,\"incoming\":%u,\"outgoing\":%u}", s->owned,
               share(s->owned, g->partitions), s->owned_after, s->incoming, s->outgoing);
    }
    printf("],\"transfers\":[");
    for (size_t i = 0; i < g->ntransfers; i++) {
        printf("%s{\"partition\":%u,\"from\":", i ? "," : "", g->transfers[i].partition);
        json_str(g->transfers[i].from);
        json_key("to", false);
        json_str(g->transfers[i].to);
        printf("}");
    }
    printf("]");
}

static void ring_json(const struct rkv_admin_result *r)
{
    printf("{\"node\":");
    json_str(r->node_id);
    ring_json_fields(&r->ring);
    printf("}\n");
}

/* ---- plans ---- */

static void changes_text(const struct rkv_ring_plan *p)
{
    if (p->nchanges == 0)
        printf("no changes staged\n");
    for (size_t i = 0; i < p->nchanges; i++)
        printf("  %-7s %s\n", p->changes[i].kind, p->changes[i].node_id);
}

/* Moves grouped by (from, to), in order of first appearance. */
static void moves_text(const struct rkv_ring_plan *p)
{
    printf("moves: %zu partition%s\n", p->nmoves, p->nmoves == 1 ? "" : "s");
    bool *done = calloc(p->nmoves ? p->nmoves : 1, sizeof *done);
    if (!done)
        return;
    for (size_t i = 0; i < p->nmoves; i++) {
        if (done[i])
            continue;
        const struct rkv_partition_move *m = &p->moves[i];
        size_t n = 0;
        for (size_t j = i; j < p->nmoves; j++)
            n += strcmp(p->moves[j].from, m->from) == 0 && strcmp(p->moves[j].to, m->to) == 0;
        printf("  %s -> %s (%zu):", m->from, m->to, n);
        for (size_t j = i; j < p->nmoves; j++) {
            if (!done[j] && strcmp(p->moves[j].from, m->from) == 0 && strcmp(p->moves[j].to, m->to) == 0) {
                printf(" %u", p->moves[j].partition);
                done[j] = true;
            }
        }
        printf("\n");
    }
    free(done);
}

static void plan_text(const struct rkv_admin_result *r)
{
    const struct rkv_ring_plan *p = &r->plan;
    if (p->from_version == 0)
        printf("staged on %s: a first ring (version %llu)\n", r->node_id, (unsigned long long)p->to_version);
    else
        printf("staged on %s (ring version %llu -> %llu):\n", r->node_id, (unsigned long long)p->from_version,
               (unsigned long long)p->to_version);
    changes_text(p);
    moves_text(p);
    int wid = 4;
    for (size_t i = 0; i < p->nnodes; i++)
        wid = width(wid, p->nodes[i].id);
    printf("%-*s  %6s  %5s\n", wid, "NODE", "BEFORE", "AFTER");
    for (size_t i = 0; i < p->nnodes; i++)
        printf("%-*s  %6u  %5u\n", wid, p->nodes[i].id, p->nodes[i].owned, p->nodes[i].owned_after);
}

static void plan_json_fields(const struct rkv_ring_plan *p)
{
    printf(",\"from_version\":%llu,\"to_version\":%llu,\"changes\":[", (unsigned long long)p->from_version,
           (unsigned long long)p->to_version);
    for (size_t i = 0; i < p->nchanges; i++) {
        printf("%s{\"kind\":", i ? "," : "");
        json_str(p->changes[i].kind);
        json_key("node", false);
        json_str(p->changes[i].node_id);
        printf("}");
    }
    printf("],\"moves\":[");
    for (size_t i = 0; i < p->nmoves; i++) {
        printf("%s{\"partition\":%u,\"from\":", i ? "," : "", p->moves[i].partition);
        json_str(p->moves[i].from);
        json_key("to", false);
        json_str(p->moves[i].to);
        printf("}");
    }
    printf("],\"nodes\":[");
    for (size_t i = 0; i < p->nnodes; i++) {
        printf("%s{\"id\":", i ? "," : "");
        json_str(p->nodes[i].id);
        printf(",\"before\":%u,\"after\":%u}", p->nodes[i].owned, p->nodes[i].owned_after);
    }
    printf("]");
}

/* plan, commit, join, leave, remove, clear: the message, then what the reply has. */
static void staged_output(const struct rkv_admin_result *r, bool json)
{
    if (json) {
        printf("{\"node\":");
        json_str(r->node_id);
        json_key("message", false);
        json_str(r->message);
        if (r->has_plan)
            plan_json_fields(&r->plan);
        if (r->has_ring) {
            printf(",\"ring\":{\"node\":");
            json_str(r->node_id);
            ring_json_fields(&r->ring);
            printf("}");
        }
        printf("}\n");
        return;
    }
    if (r->has_plan && r->plan.to_version > 0)
        plan_text(r);
    else if (r->has_plan)
        changes_text(&r->plan);
    printf("%s\n", r->message);
}

/* ---- hints ---- */

static void hints_text(const struct rkv_admin_result *r)
{
    int wid = 6;
    for (size_t i = 0; i < r->nhint_targets; i++)
        wid = width(wid, r->hint_targets[i].node_id);
    printf("%-*s  %8s  %12s  %12s  %10s  %8s  %8s\n", wid, "TARGET", "HELD", "BYTES", "OLDEST_MS", "DELIVERED",
           "EXPIRED", "FAILED");
    for (size_t i = 0; i < r->nhint_targets; i++) {
        const struct rkv_hint_target *t = &r->hint_targets[i];
        printf("%-*s  %8llu  %12llu  %12llu  %10llu  %8llu  %8llu\n", wid, t->node_id, (unsigned long long)t->held,
               (unsigned long long)t->bytes, (unsigned long long)t->oldest_age_ms,
               (unsigned long long)t->delivered, (unsigned long long)t->expired, (unsigned long long)t->failed);
    }
    printf("%s; %llu stored since start\n", r->message, (unsigned long long)r->hints_stored);
}

static void hints_json_object(const struct rkv_admin_result *r)
{
    printf("{\"node\":");
    json_str(r->node_id);
    printf(",\"held\":%llu,\"stored\":%llu,\"targets\":[", (unsigned long long)r->hints_held,
           (unsigned long long)r->hints_stored);
    for (size_t i = 0; i < r->nhint_targets; i++) {
        const struct rkv_hint_target *t = &r->hint_targets[i];
        printf("%s{\"node\":", i ? "," : "");
        json_str(t->node_id);
        printf(",\"held\":%llu,\"bytes\":%llu,\"oldest_age_ms\":%llu,\"delivered\":%llu,\"expired\":%llu,"
               "\"failed\":%llu}", (unsigned long long)t->held, (unsigned long long)t->bytes,
               (unsigned long long)t->oldest_age_ms, (unsigned long long)t->delivered,
               (unsigned long long)t->expired, (unsigned long long)t->failed);
    }
    printf("]}");
}

static void hints_json(const struct rkv_admin_result *r)
{
    hints_json_object(r);
    fputc('\n', stdout);
}

/* HINTS on one member; prints its report. KVCTL_EXIT_OK or the failure's code. */
static int hints_of(const struct rkv_member *m, const struct rkv_options *opts, const struct rkv_request_options *req,
                    bool json, bool first)
{
    const char *hosts[] = { m->addr };
    struct rkv_client *c = NULL;
    struct rkv_admin_result *r = NULL;
    int rc = rkv_connect(hosts, 1, opts, &c);
    if (rc == RKV_OK)
        rc = rkv_admin(c, RKV_ADMIN_HINTS, NULL, req, &r);
    if (rc != RKV_OK) {
        const char *detail = c ? rkv_last_error(c) : "";
        fprintf(stderr, "kvctl: hints: %s (%s): %s%s%s\n", m->id, m->addr, rkv_strerror(rc), detail[0] ? ": " : "",
                detail);
        rkv_close(c);
        return kvctl_fmt_exit_code(rc);
    }
    if (json) {
        fputs(first ? "" : ",", stdout);
        hints_json_object(r);
    } else {
        printf("%s== %s (%s)\n", first ? "" : "\n", m->id, m->addr);
        hints_text(r);
    }
    rkv_admin_result_free(r);
    rkv_close(c);
    return KVCTL_EXIT_OK;
}

int kvctl_admin_hints_all(struct rkv_client *client, const struct rkv_options *opts,
                          const struct rkv_request_options *req, bool json)
{
    struct rkv_admin_result *members = NULL;
    int rc = rkv_admin(client, RKV_ADMIN_MEMBERS, NULL, req, &members);
    if (rc != RKV_OK)
        return kvctl_fmt_fail("hints", rc, client);
    int exit_code = KVCTL_EXIT_OK;
    bool first = true;
    if (json)
        printf("{\"nodes\":[");
    for (size_t i = 0; i < members->nmembers; i++) {
        const struct rkv_member *m = &members->members[i];
        if (strcmp(m->state, "alive") != 0 && strcmp(m->state, "suspect") != 0)
            continue;
        int one = hints_of(m, opts, req, json, first);
        if (one == KVCTL_EXIT_OK)
            first = false;
        else if (exit_code == KVCTL_EXIT_OK)
            exit_code = one;
    }
    if (json) {
        printf("],\"skipped\":[");  /* members not alive or suspect */
        first = true;
        for (size_t i = 0; i < members->nmembers; i++) {
            const struct rkv_member *m = &members->members[i];
            if (strcmp(m->state, "alive") == 0 || strcmp(m->state, "suspect") == 0)
                continue;
            fputs(first ? "" : ",", stdout);
            json_str(m->id);
            first = false;
        }
        printf("]}\n");
    }
    rkv_admin_result_free(members);
    return exit_code;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    enum rkv_admin_op op;
} kvctl_admin_ops[] = {
    { "members", RKV_ADMIN_MEMBERS }, { "ring", RKV_ADMIN_RING },     { "join", RKV_ADMIN_JOIN },
    { "leave", RKV_ADMIN_LEAVE },     { "remove", RKV_ADMIN_REMOVE }, { "plan", RKV_ADMIN_PLAN },
    { "commit", RKV_ADMIN_COMMIT },   { "clear", RKV_ADMIN_CLEAR },   { "hints", RKV_ADMIN_HINTS },
};

int kvctl_admin_run(const char *cmd, struct rkv_client *client, const struct rkv_request_options *req, bool json,
                    const char *arg)
{
    enum rkv_admin_op op = 0;
    for (size_t i = 0; i < sizeof kvctl_admin_ops / sizeof kvctl_admin_ops[0]; i++)
        if (strcmp(kvctl_admin_ops[i].name, cmd) == 0)
            op = kvctl_admin_ops[i].op;
    struct rkv_admin_result *r = NULL;
    int rc = rkv_admin(client, op, arg, req, &r);
    if (rc != RKV_OK)
        return kvctl_fmt_fail(cmd, rc, client);
    if (op == RKV_ADMIN_MEMBERS)
        json ? members_json(r) : members_text(r);
    else if (op == RKV_ADMIN_RING)
        json ? ring_json(r) : ring_text(r);
    else if (op == RKV_ADMIN_HINTS)
        json ? hints_json(r) : hints_text(r);
    else
        staged_output(r, json);
    rkv_admin_result_free(r);
    return KVCTL_EXIT_OK;
}
