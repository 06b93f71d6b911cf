/*
 * replica_check.c - does one node's own copy hold these writes?
 * (tests/docker/load.py check; what kvctl local-get does, for many keys
 * over one connection).
 *
 *     replica_check HOST:PORT < LINES
 *
 * Each input line is "KEY VALUE" (no spaces inside either; the ledger of
 * tests/docker is written that way). For each, the node is asked with
 * rkv_admin_local_get what its own storage holds: no other node is
 * asked, nothing is merged or repaired. The write is there when the
 * node's replica copy (hint_for "") has VALUE as a live sibling (not a
 * tombstone, not expired); a hint the node keeps for another replica
 * does not count. Prints "missing KEY VALUE: why" for each write that is
 * not there, then "replica_check HOST: N writes, M missing".
 *
 * Exit: 0 all there, 1 some missing, 2 usage error or the node could
 * not be reached at all (then nothing was checked).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringkv.h"

#define LINE_BYTES_MAX 4096u
#define CHECK_TIMEOUT_MS 5000u

/* "" when the replica copy holds value live, else why not (static text). */
static const char *why_missing(const struct rkv_local_object *o, const char *value)
{
    size_t vlen = strlen(value);
    for (size_t i = 0; i < o->ncopies; i++) {
        const struct rkv_local_copy *c = &o->copies[i];
        if (c->hint_for[0] != '\0')
            continue;
        for (size_t j = 0; j < c->nsiblings; j++) {
            const struct rkv_local_sibling *s = &c->siblings[j];
            if (!s->tombstone && !s->expired && s->value_len == vlen && memcmp(s->value, value, vlen) == 0)
                return "";
        }
        return "the replica copy holds other values";
    }
    return o->ncopies ? "only hint copies" : "nothing stored";
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: replica_check HOST:PORT < 'KEY VALUE' lines\n");
        return 2;
    }
    const char *hosts[] = { argv[1] };
    struct rkv_options opts;
    rkv_options_init(&opts);
    opts.request_timeout_ms = CHECK_TIMEOUT_MS;
    struct rkv_client *c = NULL;
    int st = rkv_connect(hosts, 1, &opts, &c);
    if (st != RKV_OK) {
        fprintf(stderr, "replica_check: cannot connect to %s: %s\n", argv[1], rkv_strerror(st));
        return 2;
    }
    char line[LINE_BYTES_MAX];
    unsigned long total = 0, missing = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *save = NULL;
        char *key = strtok_r(line, " \t\r\n", &save);
        char *value = strtok_r(NULL, " \t\r\n", &save);
        if (key == NULL || value == NULL)
            continue;
        total++;
        struct rkv_local_object *o = NULL;
        st = rkv_admin_local_get(c, key, NULL, &o);
        const char *why = st == RKV_OK ? why_missing(o, value) : rkv_strerror(st);
        if (why[0] != '\0') {
            printf("missing %s %s: %s\n", key, value, why);
            missing++;
        }
        rkv_local_object_free(o);
    }
    rkv_close(c);
    printf("replica_check %s: %lu writes, %lu missing\n", argv[1], total, missing);
    return missing ? 1 : 0;
}
