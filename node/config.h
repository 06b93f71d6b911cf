/*
 * config.h - every kvnode option, from four sources.
 *
 * Precedence, lowest first: built-in defaults < config file < environment
 * < command-line flags. Each option has one name used everywhere:
 *   flag      --name VALUE  or  --name=VALUE   (booleans: --name, --name=false)
 *   file      name = VALUE                     ('#' starts a comment line;
 *                                               '_' may replace '-'; quotes
 *                                               around VALUE are stripped)
 *   env       RINGKV_NAME                      (upper case, '-' -> '_')
 * The file is named by --config or RINGKV_CONFIG. Sizes (options ending in
 * -bytes or -bytes-max) accept a k/m/g suffix (powers of 1024).
 * Unknown flags and file keys are errors; unknown RINGKV_* variables are
 * ignored (tools share the prefix).
 *
 * node_config_load reads only the argv and envp arrays it is given, so
 * tests can call it without touching the process environment (it opens
 * the config file if one is named). On bad input it returns KV_EINVAL and
 * one line naming the source and the option ("--sync: expected always,
 * periodic or none, got 'x'"); kvnode prints it and exits with code 2.
 *
 * Threading: plain data; fill once at start, then read only.
 */
#ifndef RINGKV_NODE_CONFIG_H
#define RINGKV_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"

#define NODE_CONFIG_PATH_BYTES_MAX 4096
#define NODE_CONFIG_HOST_BYTES_MAX 256      /* a DNS name is at most 253 bytes */
#define NODE_CONFIG_SEEDS_MAX 64
#define NODE_CONFIG_SEEDS_BYTES_MAX (NODE_CONFIG_SEEDS_MAX * (NODE_CONFIG_HOST_BYTES_MAX + 7))
#define NODE_CONFIG_LINE_BYTES_MAX 8192     /* one config file line */
/* A frame holds one key and one value plus the envelope (request id,
 * context, options): frame-bytes-max must leave this much room. */
#define NODE_CONFIG_FRAME_SLACK_BYTES (64u * 1024u)
#define NODE_CONFIG_REPLICAS_MAX 16u
#define NODE_CONFIG_ZONE_BYTES_MAX 64       /* = GOSSIP_ZONE_BYTES_MAX */

enum node_sync {
    NODE_SYNC_NONE = 0,
    NODE_SYNC_PERIODIC = 1,
    NODE_SYNC_ALWAYS = 2,
};

/* A parsed HOST:PORT ("[v6addr]:port" for IPv6; brackets are stripped). */
struct node_addr {
    char host[NODE_CONFIG_HOST_BYTES_MAX];
    uint16_t port;
};

struct node_config {
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    char data_dir[NODE_CONFIG_PATH_BYTES_MAX];
    char config_file[NODE_CONFIG_PATH_BYTES_MAX];   /* "" if none */

    char listen[NODE_CONFIG_HOST_BYTES_MAX + 8];    /* native protocol, as given */
    char resp[NODE_CONFIG_HOST_BYTES_MAX + 8];      /* "" or "off": no RESP listener */
    char http[NODE_CONFIG_HOST_BYTES_MAX + 8];      /* "" or "off": no HTTP listener */
    char seeds[NODE_CONFIG_SEEDS_BYTES_MAX];        /* comma-separated, as given */
    char advertise[NODE_CONFIG_HOST_BYTES_MAX + 8]; /* "" = derived from listen (node/cluster_rt.h) */
    char zone[NODE_CONFIG_ZONE_BYTES_MAX + 1];      /* "" = none */
    bool auto_join;                                 /* join seeds and the ring without kvctl */
    struct node_addr listen_addr, resp_addr, http_addr, advertise_addr; /* advertise_addr: if set */
    bool resp_enabled, http_enabled;
    struct node_addr seed_addrs[NODE_CONFIG_SEEDS_MAX];
    size_t seed_count;

    enum kv_log_level log_level;
    enum node_sync sync;
    uint64_t sync_interval_ms;
    uint64_t memtable_bytes;
    uint64_t block_cache_bytes;

    uint64_t key_bytes_max;
    uint64_t value_bytes_max;
    uint64_t siblings_max;              /* concurrent values per key */
    char conflict_mode[8];              /* "dvv" or "lww" (coord_conflict_mode; peers must match) */
    uint64_t tombstone_grace_ms;        /* cluster: purge fully replicated tombstones this old; 0 = never */
    uint64_t hints_bytes_max;           /* cluster: hint key + record bytes held for down replicas */
    uint64_t frame_bytes_max;
    uint64_t max_connections;           /* per listener */
    uint64_t conn_output_bytes_max;     /* unsent replies before a connection stops reading */
    uint64_t inflight_bytes_max;        /* client request bytes held across all connections */
    uint64_t idle_timeout_ms;           /* no byte in either direction */
    uint64_t frame_timeout_ms;          /* a started frame or command must finish */
    uint64_t request_timeout_ms;
    uint64_t shutdown_timeout_ms;       /* SIGTERM: bound on draining in-flight requests */

    char tls_cert[NODE_CONFIG_PATH_BYTES_MAX];
    char tls_key[NODE_CONFIG_PATH_BYTES_MAX];
    char tls_ca[NODE_CONFIG_PATH_BYTES_MAX];
    bool tls_mutual;
    char users_file[NODE_CONFIG_PATH_BYTES_MAX];  /* "" = authentication off (node/auth.h) */

    uint64_t partitions;                /* Q: power of two */
    uint64_t n_replicas;                /* N */

    /* Anti-entropy (cluster mode; node/aae_net.h, coordinator/aae.h). */
    bool aae;                           /* --aae on|off */
    uint64_t aae_interval_ms;           /* each replica pair compares trees this often */
    uint64_t aae_bytes_per_sec;         /* anti-entropy traffic budget, in + out; 0 = unlimited */
    uint64_t aae_exchanges_max;         /* exchanges initiated at a time */

    /* Ownership handoff (cluster mode; node/handoff_net.h, coordinator/handoff.h). */
    uint64_t handoff_bytes_per_sec;     /* streaming budget of this node as a source */
    uint64_t handoff_transfers_max;     /* streams this node sends at a time */
    uint64_t handoff_drop_delay_ms;     /* ring quiet this long before a range is dropped */
};

enum node_config_action {
    NODE_CONFIG_RUN = 0,
    NODE_CONFIG_HELP,       /* --help: print node_config_print_help, exit 0 */
    NODE_CONFIG_VERSION,    /* --version */
};

/*
 * Fills *c from defaults, the config file, envp (NULL-terminated "K=V"
 * strings; may be NULL) and argv[1..argc). On KV_OK *action says what to
 * do. On KV_EINVAL (bad input) or KV_EIO (unreadable config file) err
 * holds one line without a trailing newline; *c is then unspecified.
 */
int node_config_load(struct node_config *c, int argc, char *const *argv, char *const *envp,
                     enum node_config_action *action, struct kv_buf *err) KV_MUST_USE;

/* Writes the usage text: every option, its argument, default and env var. */
void node_config_print_help(FILE *out, const char *prog);

/* Parses "host:port" or "[v6]:port" (port 1..65535) into *out. KV_EINVAL if malformed. */
int node_addr_parse(const char *s, struct node_addr *out) KV_MUST_USE;

/* "always", "periodic" or "none". */
const char *node_sync_name(enum node_sync s);

#endif
