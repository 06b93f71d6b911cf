/*
 * fuzz_state.c - libFuzzer over the node's saved cluster state as it is
 * read at start-up: DATA_DIR/cluster/ring (ring_decode, checksummed) and
 * DATA_DIR/cluster/peers ("ID ADDR" lines), loaded by node_cluster_new.
 * Input: 2 bytes (big-endian) = length of the ring file, the ring file,
 * then the peers file. Both are written (plain writes, no fsync) to a
 * private directory under /dev/shm, so a run costs no disk flush. Invariant: no crash, no sanitizer report; a state that loads
 * gives a node that ticks and frees cleanly.
 * Seeds: tests/fuzz/corpus/state/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gossip/codec.h"
#include "node/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];

static void fuzz_send(void *ctx, const char *to_addr, const struct gossip_msg *msg) {}

static int fuzz_dir(void)
{
    if (g_dir[0])
        return 0;
    snprintf(g_dir, sizeof g_dir, "/dev/shm/ringkv-fuzz-state-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int fuzz_write(const char *name, const char *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = len ? fwrite(data, 1, len, f) : 0;
    return fclose(f) == 0 && n == len ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || fuzz_dir() != 0)
        return 0;
    size_t ring_len = ((size_t)data[0] << 8 | data[1]);
    if (ring_len > size - 2)
        ring_len = size - 2;
    const char *ring = (const char *)data + 2, *peers = ring + ring_len;
    size_t peers_len = size - 2 - ring_len;
    if (fuzz_write(NODE_CLUSTER_RING_FILE, ring, ring_len) != 0 ||
        fuzz_write(NODE_CLUSTER_PEERS_FILE, peers, peers_len) != 0)
        return 0;
    struct node_cluster_config cfg = {
        .node_id = "f1",
        .cluster_name = "fuzz",
        .advertise = "127.0.0.1:7400",
        .state_dir = g_dir,
        .partitions = 8,
        .n_val = 3,
        .auto_join = true,
    };
    struct node_cluster_net net = { fuzz_send, NULL };
    struct node_cluster *c = NULL;
    if (node_cluster_new(&cfg, &net, 1000, &c) == KV_OK) {
        node_cluster_tick(c, 2000);
        node_cluster_free(c);
    }
    return 0;
}
