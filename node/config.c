/* config.c - see config.h. One table lists every option; defaults, the
 * file, the environment, flags and --help are all driven from it, so an
 * option cannot exist in one place and be missing from another. */
#include "node/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coordinator/coord.h"

#define KIB (1024ull)
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)
#define ENV_PREFIX "RINGKV_"
#define ENV_NAME_BYTES_MAX 64

enum opt_type {
    OPT_STR,    /* char array; fits or is an error */
    OPT_U64,    /* decimal within [min, max] */
    OPT_BYTES,  /* like OPT_U64 with an optional k/m/g suffix */
    OPT_BOOL,
    OPT_SYNC,
    OPT_LOG,
};

struct opt {
    const char *name;
    enum opt_type type;
    size_t offset;
    size_t size;
    const char *def;
    uint64_t min, max;
    const char *arg;
    const char *help;
};

#define FIELD(f) offsetof(struct node_config, f), sizeof(((struct node_config *)0)->f)

static const struct opt g_opts[] = {
    { "node-id", OPT_STR, FIELD(node_id), "", 0, 0, "ID",
      "unique id of this node: letters, digits, '.', '_', '-' (required)" },
    { "cluster-name", OPT_STR, FIELD(cluster_name), "ringkv", 0, 0, "NAME",
      "cluster name; peers with another name are refused" },
    { "data-dir", OPT_STR, FIELD(data_dir), "./data", 0, 0, "DIR", "storage engine directory" },
    { "config", OPT_STR, FIELD(config_file), "", 0, 0, "FILE", "config file of 'name = value' lines" },
    { "listen", OPT_STR, FIELD(listen), "127.0.0.1:7400", 0, 0, "HOST:PORT",
      "native protocol (protobuf frames) listener" },
    { "resp", OPT_STR, FIELD(resp), "127.0.0.1:6380", 0, 0, "HOST:PORT",
      "RESP (Redis protocol) listener; 'off' disables it" },
    { "http", OPT_STR, FIELD(http), "127.0.0.1:7480", 0, 0, "HOST:PORT",
      "HTTP listener for /health and /metrics; 'off' disables it" },
    { "seeds", OPT_STR, FIELD(seeds), "", 0, 0, "HOST:PORT,...", "nodes to contact when joining" },
    { "advertise", OPT_STR, FIELD(advertise), "", 0, 0, "HOST:PORT",
      "where other nodes reach this one (TCP and UDP); default --listen (required with --seeds "
      "when --listen is 0.0.0.0 or [::])" },
    { "zone", OPT_STR, FIELD(zone), "", 0, 0, "NAME",
      "failure zone (rack, availability zone): replicas of a key prefer distinct zones" },
    { "auto-join", OPT_BOOL, FIELD(auto_join), "true", 0, 0, NULL,
      "join the seeds' cluster and its ring by itself (--no-auto-join: wait for kvctl join)" },
    { "log-level", OPT_LOG, FIELD(log_level), "info", 0, 0, "LEVEL", "debug, info, warn, error or off" },
    { "sync", OPT_SYNC, FIELD(sync), "periodic", 0, 0, "MODE",
      "WAL fsync: always (every write), periodic or none" },
    { "sync-interval-ms", OPT_U64, FIELD(sync_interval_ms), "1000", 1, 3600000, "MS",
      "period of fsync with --sync periodic" },
    { "memtable-bytes", OPT_BYTES, FIELD(memtable_bytes), "4m", 1 * MIB, 4 * GIB, "BYTES",
      "memtable size that triggers a flush" },
    { "block-cache-bytes", OPT_BYTES, FIELD(block_cache_bytes), "64m", 0, 64 * GIB, "BYTES",
      "SSTable block cache" },
    { "key-bytes-max", OPT_BYTES, FIELD(key_bytes_max), "16k", 1, COORD_KEY_BYTES_LIMIT, "BYTES",
      "largest key accepted" },
    { "value-bytes-max", OPT_BYTES, FIELD(value_bytes_max), "16m", 1, COORD_VALUE_BYTES_LIMIT,
      "BYTES", "largest value accepted" },
    { "siblings-max", OPT_U64, FIELD(siblings_max), "64", 1, COORD_SIBLINGS_LIMIT, "N",
      "concurrent values kept per key; a write that would exceed it fails" },
    { "conflict-mode", OPT_STR, FIELD(conflict_mode), "dvv", 0, 0, "dvv|lww",
      "concurrent writes: dvv keeps them as siblings; lww keeps the one with the latest "
      "wall-clock stamp and DROPS the others. A cluster setting: every node must use the same" },
    { "tombstone-grace-ms", OPT_U64, FIELD(tombstone_grace_ms), "86400000", 0, COORD_TTL_MS_MAX, "MS",
      "cluster mode: a delete's tombstone is purged once every primary replica acknowledged it and "
      "it is this old; 0 = never purge tombstones" },
    { "hints-bytes-max", OPT_BYTES, FIELD(hints_bytes_max), "1g", 0, 1024 * GIB, "BYTES",
      "cluster mode: hints (writes kept for a down replica) this node holds on disk, keys and "
      "records; a write that would need more does not count this node as its replica (it then "
      "succeeds only if W other replicas take it); 0 = keep no hints" },
    { "frame-bytes-max", OPT_BYTES, FIELD(frame_bytes_max), "20m", 4 * KIB, GIB, "BYTES",
      "largest protocol frame or RESP command; longer ones close the connection" },
    { "max-connections", OPT_U64, FIELD(max_connections), "10000", 1, 1000000, "N",
      "open connections per listener; more are refused" },
    { "conn-output-bytes-max", OPT_BYTES, FIELD(conn_output_bytes_max), "64m", 64 * KIB, 4 * GIB,
      "BYTES", "unsent reply bytes per connection before it stops reading" },
    { "inflight-bytes-max", OPT_BYTES, FIELD(inflight_bytes_max), "512m", 64 * KIB, 64 * GIB,
      "BYTES", "client request bytes held unanswered across all connections; more are refused "
      "with KV_EBUSY / -BUSY" },
    { "idle-timeout-ms", OPT_U64, FIELD(idle_timeout_ms), "300000", 1, 86400000, "MS",
      "close a connection silent for this long" },
    { "frame-timeout-ms", OPT_U64, FIELD(frame_timeout_ms), "30000", 1, 3600000, "MS",
      "close a connection whose started frame or command does not finish in time" },
    { "request-timeout-ms", OPT_U64, FIELD(request_timeout_ms), "5000", 1, 3600000, "MS",
      "deadline of a coordinated request" },
    { "shutdown-timeout-ms", OPT_U64, FIELD(shutdown_timeout_ms), "10000", 1, 3600000, "MS",
      "on SIGTERM, how long in-flight requests may take to finish" },
    { "tls-cert", OPT_STR, FIELD(tls_cert), "", 0, 0, "FILE", "PEM certificate: enables TLS" },
    { "tls-key", OPT_STR, FIELD(tls_key), "", 0, 0, "FILE", "PEM private key of --tls-cert" },
    { "tls-ca", OPT_STR, FIELD(tls_ca), "", 0, 0, "FILE", "PEM CA bundle that verifies peers" },
    { "tls-mutual", OPT_BOOL, FIELD(tls_mutual), "false", 0, 0, NULL,
      "require and verify client certificates (needs --tls-ca)" },
    { "users-file", OPT_STR, FIELD(users_file), "", 0, 0, "FILE",
      "turn authentication on: users and roles, NAME:ROLE:pbkdf2-sha256:... lines "
      "(kvnode --hash-password NAME:ROLE makes one); in a cluster needs --tls-mutual" },
    { "partitions", OPT_U64, FIELD(partitions), "256", 1, COORD_PARTITIONS_MAX, "Q",
      "ring partitions, a power of two, fixed when the cluster is created" },
    { "n-replicas", OPT_U64, FIELD(n_replicas), "3", 1, NODE_CONFIG_REPLICAS_MAX, "N",
      "replicas of each key, fixed when the cluster is created" },
    { "aae", OPT_BOOL, FIELD(aae), "on", 0, 0, "on|off",
      "active anti-entropy (cluster mode): Merkle trees per partition, exchanges that repair "
      "replicas in the background" },
    { "aae-interval-ms", OPT_U64, FIELD(aae_interval_ms), "600000", 100, 7ull * 24 * 3600 * 1000, "MS",
      "how often each pair of replicas of a partition compares trees" },
    { "aae-bytes-per-sec", OPT_BYTES, FIELD(aae_bytes_per_sec), "8m", 0, 64 * GIB, "BYTES",
      "anti-entropy traffic budget of this node, sent + received; 0 = unlimited" },
    { "aae-exchanges-max", OPT_U64, FIELD(aae_exchanges_max), "2", 1, 64, "N",
      "anti-entropy exchanges this node runs at a time" },
    { "handoff-bytes-per-sec", OPT_BYTES, FIELD(handoff_bytes_per_sec), "16m", 1, 64 * GIB, "BYTES",
      "ownership handoff: how fast this node streams partitions to new holders after a ring change" },
    { "handoff-transfers-max", OPT_U64, FIELD(handoff_transfers_max), "2", 1, 64, "N",
      "ownership handoff: partition streams this node sends at a time" },
    { "handoff-drop-delay-ms", OPT_U64, FIELD(handoff_drop_delay_ms), "5000", 0, 3600 * 1000, "MS",
      "ownership handoff: the ring must be quiet this long before a node drops a range it no longer holds" },
};
#define OPTS_COUNT (sizeof g_opts / sizeof g_opts[0])

/* Writes the one-line error message; returns KV_EINVAL. If even the
 * message cannot be stored (out of memory) it is lost, not the error. */
static int config_fail(struct kv_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int config_fail(struct kv_buf *err, const char *fmt, ...)
{
    char msg[NODE_CONFIG_PATH_BYTES_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 0 && kv_buf_append(err, msg, strlen(msg)) != KV_OK)
        err->len = 0;
    return KV_EINVAL;
}

static const struct opt *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTS_COUNT; i++) {
        const char *n = g_opts[i].name;
        if (strlen(n) != len)
            continue;
        size_t j = 0;
        while (j < len && (n[j] == name[j] || (n[j] == '-' && name[j] == '_')))
            j++;
        if (j == len)
            return &g_opts[i];
    }
    return NULL;
}

/* "RINGKV_" + upper-case name with '-' -> '_'. */
static void opt_env_name(const struct opt *o, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, ENV_PREFIX "%s", o->name);
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

static bool parse_u64(const char *s, bool sizes, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    uint64_t mult = 1;
    if (sizes && *end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = KIB; break;
        case 'm': mult = MIB; break;
        case 'g': mult = GIB; break;
        default: return false;
        }
        end++;
        if (tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) == 'b')
            end += 2; /* "16MiB" reads as "16m" */
        else if (tolower((unsigned char)*end) == 'b')
            end++;
    }
    if (*end || v > UINT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return true; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

static int opt_set_number(struct node_config *c, const struct opt *o, const char *v,
                          const char *origin, struct kv_buf *err)
{
    uint64_t n;
    if (!parse_u64(v, o->type == OPT_BYTES, &n)) {
        return config_fail(err, "%s: expected %s, got '%s'", origin,
                             o->type == OPT_BYTES ? "a size such as 4096, 64k or 16m" : "a number", v);
    }
    if (n < o->min || n > o->max) {
        return config_fail(err, "%s: %s is out of range [%llu, %llu]", origin, v,
                             (unsigned long long)o->min, (unsigned long long)o->max);
    }
    memcpy((char *)c + o->offset, &n, sizeof n);
    return KV_OK;
}

/* Parses v for option o and stores it; origin names the source in errors. */
static int opt_set(struct node_config *c, const struct opt *o, const char *v, const char *origin,
                   struct kv_buf *err)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        if (strlen(v) >= o->size) {
            return config_fail(err, "%s: longer than %zu bytes", origin, o->size - 1);
        }
        memcpy(field, v, strlen(v) + 1);
        return KV_OK;
    case OPT_U64:
    case OPT_BYTES:
        return opt_set_number(c, o, v, origin, err);
    case OPT_BOOL: {
        bool b;
        if (!parse_bool(v, &b)) {
            return config_fail(err, "%s: expected true or false, got '%s'", origin, v);
        }
        memcpy(field, &b, sizeof b);
        return KV_OK;
    }
    case OPT_SYNC: {
        static const char *const names[] = { "none", "periodic", "always" };
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(v, names[i]) == 0) {
                enum node_sync s = (enum node_sync)i;
                memcpy(field, &s, sizeof s);
                return KV_OK;
            }
        }
        return config_fail(err, "%s: expected always, periodic or none, got '%s'", origin, v);
    }
    case OPT_LOG: {
        enum kv_log_level l;
        if (!kv_log_parse_level(v, &l)) {
            return config_fail(err, "%s: expected debug, info, warn, error or off, got '%s'", origin, v);
        }
        memcpy(field, &l, sizeof l);
        return KV_OK;
    }
    }
    return KV_EINVAL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Applies one "name = value" line; a blank or '#' line does nothing. */
static int config_file_line(struct node_config *c, char *line, const char *path, int lineno,
                            struct kv_buf *err)
{
    char *s = trim(line);
    if (*s == 0 || *s == '#')
        return KV_OK;
    char *eq = strchr(s, '=');
    if (!eq) {
        return config_fail(err, "%s:%d: expected 'name = value'", path, lineno);
    }
    *eq = 0;
    char *name = trim(s), *value = trim(eq + 1);
    size_t vn = strlen(value);
    if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
        value[vn - 1] = 0;
        value++;
    }
    const struct opt *o = opt_find(name, strlen(name));
    if (!o || strcmp(o->name, "config") == 0) {
        return config_fail(err, "%s:%d: unknown option '%s'", path, lineno, name);
    }
    char origin[NODE_CONFIG_PATH_BYTES_MAX + 128];
    snprintf(origin, sizeof origin, "%s:%d: %s", path, lineno, o->name);
    return opt_set(c, o, value, origin, err);
}

static int config_file_load(struct node_config *c, const char *path, struct kv_buf *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        (void)config_fail(err, "config file %s: %s", path, strerror(errno));
        return KV_EIO;
    }
    char line[NODE_CONFIG_LINE_BYTES_MAX];
    int lineno = 0, rc = KV_OK;
    while (rc == KV_OK && fgets(line, sizeof line, f)) {
        lineno++;
        if (strlen(line) == sizeof line - 1 && line[sizeof line - 2] != '\n') {
            rc = config_fail(err, "%s:%d: line longer than %d bytes", path, lineno,
                             NODE_CONFIG_LINE_BYTES_MAX - 2);
            break;
        }
        rc = config_file_line(c, line, path, lineno, err);
    }
    if (rc == KV_OK && ferror(f)) {
        (void)config_fail(err, "config file %s: read error", path);
        rc = KV_EIO;
    }
    fclose(f);
    return rc;
}

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

static int config_env_load(struct node_config *c, char *const *envp, struct kv_buf *err)
{
    for (size_t i = 0; i < OPTS_COUNT; i++) {
        char name[ENV_NAME_BYTES_MAX];
        opt_env_name(&g_opts[i], name, sizeof name);
        const char *v = env_lookup(envp, name);
        if (v && strcmp(g_opts[i].name, "config") != 0) {
            int rc = opt_set(c, &g_opts[i], v, name, err);
            if (rc != KV_OK)
                return rc;
        }
    }
    return KV_OK;
}

/* One flag found on the command line, applied after the file and env. */
struct flag_value {
    const struct opt *opt;
    const char *value;
};

/* Splits argv into (option, value) pairs; spots --help / --version. */
static int config_scan_flags(int argc, char *const *argv, struct flag_value *flags, size_t *count,
                             enum node_config_action *action, struct kv_buf *err)
{
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = NODE_CONFIG_HELP;
            return KV_OK;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            *action = NODE_CONFIG_VERSION;
            return KV_OK;
        }
        if (strncmp(a, "--", 2) != 0) {
            return config_fail(err, "unexpected argument '%s' (see --help)", a);
        }
        const char *eq = strchr(a + 2, '=');
        size_t name_len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct opt *o = opt_find(a + 2, name_len);
        const char *v = eq ? eq + 1 : NULL;
        if (!o && !eq && name_len > 3 && strncmp(a + 2, "no-", 3) == 0) {
            /* --no-NAME turns a boolean off */
            o = opt_find(a + 5, name_len - 3);
            if (o && o->type != OPT_BOOL)
                o = NULL;
            v = "false";
        }
        if (!o) {
            return config_fail(err, "unknown option '%.*s' (see --help)", (int)name_len + 2, a);
        }
        bool b;
        if (!v && o->type == OPT_BOOL && i + 1 < argc && parse_bool(argv[i + 1], &b))
            v = argv[++i]; /* "--aae off" */
        if (!v && o->type == OPT_BOOL)
            v = "true";
        if (!v && i + 1 >= argc) {
            return config_fail(err, "--%s: missing value", o->name);
        }
        if (!v)
            v = argv[++i];
        flags[n].opt = o;
        flags[n].value = v;
        n++;
    }
    *count = n;
    return KV_OK;
}

static bool node_id_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

int node_addr_parse(const char *s, struct node_addr *out)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return KV_EINVAL;
    const char *host = s;
    size_t host_len = (size_t)(colon - s);
    if (host[0] == '[') {
        if (host_len < 3 || host[host_len - 1] != ']')
            return KV_EINVAL;
        host++;
        host_len -= 2;
    } else if (memchr(host, ':', host_len)) {
        return KV_EINVAL; /* an IPv6 address needs brackets */
    }
    uint64_t port;
    if (host_len >= sizeof out->host || !parse_u64(colon + 1, false, &port) || port < 1 ||
        port > 65535)
        return KV_EINVAL;
    memcpy(out->host, host, host_len);
    out->host[host_len] = 0;
    out->port = (uint16_t)port;
    return KV_OK;
}

const char *node_sync_name(enum node_sync s)
{
    switch (s) {
    case NODE_SYNC_NONE: return "none";
    case NODE_SYNC_PERIODIC: return "periodic";
    case NODE_SYNC_ALWAYS: return "always";
    }
    return "unknown";
}

/* An optional listener: "" or "off" disables it. */
static int config_listener(const char *name, const char *s, struct node_addr *addr, bool *enabled,
                           struct kv_buf *err)
{
    *enabled = *s && strcasecmp(s, "off") != 0;
    if (*enabled && node_addr_parse(s, addr) != KV_OK) {
        return config_fail(err, "--%s: expected HOST:PORT, got '%s'", name, s);
    }
    return KV_OK;
}

static int config_seeds(struct node_config *c, struct kv_buf *err)
{
    c->seed_count = 0;
    const char *p = c->seeds;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char one[NODE_CONFIG_HOST_BYTES_MAX + 8];
        if (c->seed_count == NODE_CONFIG_SEEDS_MAX) {
            return config_fail(err, "--seeds: more than %d seeds", NODE_CONFIG_SEEDS_MAX);
        }
        if (n == 0 || n >= sizeof one) {
            return config_fail(err, "--seeds: empty or overlong entry in '%s'", c->seeds);
        }
        memcpy(one, p, n);
        one[n] = 0;
        if (node_addr_parse(one, &c->seed_addrs[c->seed_count]) != KV_OK) {
            return config_fail(err, "--seeds: expected HOST:PORT, got '%s'", one);
        }
        c->seed_count++;
        p += n + (end ? 1 : 0);
    }
    return KV_OK;
}

static bool host_is_wildcard(const char *host)
{
    return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* Peers must be told a reachable address: a wildcard listener needs
 * --advertise as soon as there are peers to tell (seeds). Without seeds
 * the node derives one at start-up (node/cluster_rt.h). */
static int config_advertise(struct node_config *c, struct kv_buf *err)
{
    if (c->advertise[0]) {
        if (node_addr_parse(c->advertise, &c->advertise_addr) != KV_OK ||
            host_is_wildcard(c->advertise_addr.host))
            return config_fail(err, "--advertise: expected a reachable HOST:PORT, got '%s'",
                               c->advertise);
        return KV_OK;
    }
    if (host_is_wildcard(c->listen_addr.host) && c->seed_count > 0)
        return config_fail(err, "--advertise: required when --listen is %s and --seeds is set "
                                "(the address other nodes reach this one at)", c->listen);
    return KV_OK;
}

/* Checks that need several options; the first problem is reported. */
static int config_validate(struct node_config *c, struct kv_buf *err)
{
    const char *msg = NULL;
    if (!node_id_valid(c->node_id))
        msg = "--node-id: required; letters, digits, '.', '_' and '-' only";
    else if (!node_id_valid(c->cluster_name))
        msg = "--cluster-name: letters, digits, '.', '_' and '-' only";
    else if (!c->data_dir[0])
        msg = "--data-dir: required";
    else if (strcmp(c->conflict_mode, "dvv") != 0 && strcmp(c->conflict_mode, "lww") != 0)
        msg = "--conflict-mode: expected dvv or lww";
    else if (c->partitions & (c->partitions - 1))
        msg = "--partitions: must be a power of two";
    else if (c->frame_bytes_max < c->value_bytes_max + c->key_bytes_max + NODE_CONFIG_FRAME_SLACK_BYTES)
        msg = "--frame-bytes-max: must exceed value-bytes-max + key-bytes-max + 64k";
    else if (!c->tls_cert[0] != !c->tls_key[0])
        msg = "--tls-cert and --tls-key: give both or neither";
    else if (c->tls_ca[0] && !c->tls_cert[0])
        msg = "--tls-ca: needs --tls-cert and --tls-key";
    else if (c->tls_mutual && !c->tls_ca[0])
        msg = "--tls-mutual: needs --tls-ca";
    else if (c->users_file[0] && c->seeds[0] && !c->tls_mutual)
        msg = "--users-file with --seeds: needs --tls-mutual (nodes authenticate each other "
              "by certificate)";
    if (msg) {
        return config_fail(err, "%s", msg);
    }
    if (node_addr_parse(c->listen, &c->listen_addr) != KV_OK) {
        return config_fail(err, "--listen: expected HOST:PORT, got '%s'", c->listen);
    }
    int rc = config_listener("resp", c->resp, &c->resp_addr, &c->resp_enabled, err);
    if (rc == KV_OK)
        rc = config_listener("http", c->http, &c->http_addr, &c->http_enabled, err);
    if (rc == KV_OK)
        rc = config_seeds(c, err);
    if (rc == KV_OK)
        rc = config_advertise(c, err);
    return rc;
}

static void config_defaults(struct node_config *c)
{
    memset(c, 0, sizeof *c);
    struct kv_buf ignored = { 0 };
    for (size_t i = 0; i < OPTS_COUNT; i++) {
        int rc = opt_set(c, &g_opts[i], g_opts[i].def, "default", &ignored);
        assert(rc == KV_OK); /* the table's defaults are valid (test_config checks them) */
        (void)rc;
    }
    kv_buf_free(&ignored);
}

int node_config_load(struct node_config *c, int argc, char *const *argv, char *const *envp,
                     enum node_config_action *action, struct kv_buf *err)
{
    *action = NODE_CONFIG_RUN;
    config_defaults(c);
    size_t nflags = 0;
    struct flag_value *flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof *flags);
    if (!flags)
        return KV_ENOMEM;
    int rc = config_scan_flags(argc, argv, flags, &nflags, action, err);
    if (rc != KV_OK || *action != NODE_CONFIG_RUN)
        goto done;
    const char *file = env_lookup(envp, ENV_PREFIX "CONFIG");
    for (size_t i = 0; i < nflags; i++)
        if (strcmp(flags[i].opt->name, "config") == 0)
            file = flags[i].value;
    if (file && *file) {
        rc = opt_set(c, opt_find("config", 6), file, "--config", err);
        if (rc == KV_OK)
            rc = config_file_load(c, c->config_file, err);
    }
    if (rc == KV_OK)
        rc = config_env_load(c, envp, err);
    for (size_t i = 0; rc == KV_OK && i < nflags; i++) {
        char origin[64];
        snprintf(origin, sizeof origin, "--%s", flags[i].opt->name);
        rc = opt_set(c, flags[i].opt, flags[i].value, origin, err);
    }
    if (rc == KV_OK)
        rc = config_validate(c, err);
done:
    free(flags);
    return rc;
}

void node_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s --node-id ID --data-dir DIR [options]\n"
            "Runs one ringkv node. Every option can also be set in a config file\n"
            "(--config FILE, lines 'name = value') or an environment variable;\n"
            "flags win over the environment, which wins over the file.\n"
            "Sizes accept k, m and g suffixes (powers of 1024).\n\nOptions:\n",
            prog);
    for (size_t i = 0; i < OPTS_COUNT; i++) {
        const struct opt *o = &g_opts[i];
        char flag[64], env[ENV_NAME_BYTES_MAX];
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        opt_env_name(o, env, sizeof env);
        fprintf(out, "  %-32s %s\n  %-32s (default: %s; env %s)\n", flag, o->help, "",
                o->def[0] ? o->def : "none", env);
    }
    fprintf(out, "  %-32s %s\n  %-32s %s\n", "--help", "print this help and exit", "--version",
            "print the version and exit");
    fprintf(out, "  %-32s %s\n", "--hash-password NAME:ROLE",
            "read a password from stdin, print a --users-file line for it, exit");
}
