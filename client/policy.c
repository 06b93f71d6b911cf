/* policy.c - see policy.h. */
#include "client/policy.h"

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

/* The public codes are the wire codes: a mismatch is a build error, not a
 * silent renumbering. */
_Static_assert(RKV_OK == KV_OK && RKV_EIO == KV_EIO && RKV_ECORRUPT == KV_ECORRUPT &&
               RKV_ENOTFOUND == KV_ENOTFOUND && RKV_EINVAL == KV_EINVAL &&
               RKV_ENOMEM == KV_ENOMEM && RKV_ETIMEDOUT == KV_ETIMEDOUT &&
               RKV_EINDOUBT == KV_EINDOUBT && RKV_EBUSY == KV_EBUSY &&
               RKV_ETOOBIG == KV_ETOOBIG && RKV_ECLOSED == KV_ECLOSED &&
               RKV_EPROTO == KV_EPROTO && RKV_EUNAVAIL == KV_EUNAVAIL &&
               RKV_EAUTH == KV_EAUTH && RKV_EEXIST == KV_EEXIST && RKV_ENOSPC == KV_ENOSPC &&
               RKV_ECONFLICT == KV_ECONFLICT && RKV_ESTATE == KV_ESTATE &&
               KV_STATUS_MIN == RKV_ESTATE,
               "ringkv.h status codes must equal common/status.h");
_Static_assert(RKV_CLUSTER_NAME_BYTES_MAX == KV_CLUSTER_NAME_BYTES_MAX, "cluster name limit");
_Static_assert(RKV_FRAME_BYTES_MAX_DEFAULT == KV_FRAME_BYTES_MAX_DEFAULT, "frame limit");
_Static_assert(RKV_BATCH_CHUNK_KEYS <= KV_BATCH_KEYS_MAX, "a batch chunk must fit the node's limit");

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

int client_config_from_options(const struct rkv_options *o, struct client_config *out)
{
    struct rkv_options defaults;
    if (o == NULL) {
        rkv_options_init(&defaults);
        o = &defaults;
    }
    const char *name = o->cluster_name ? o->cluster_name : RKV_CLUSTER_NAME_DEFAULT;
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > RKV_CLUSTER_NAME_BYTES_MAX)
        return KV_EINVAL;
    struct client_config c;
    memset(&c, 0, sizeof c);
    memcpy(c.cluster_name, name, name_len + 1);
    c.connect_timeout_ms = or_default(o->connect_timeout_ms, RKV_CONNECT_TIMEOUT_MS_DEFAULT);
    c.request_timeout_ms = or_default(o->request_timeout_ms, RKV_REQUEST_TIMEOUT_MS_DEFAULT);
    c.retries = o->retries;
    c.backoff_base_ms = or_default(o->backoff_base_ms, RKV_BACKOFF_BASE_MS_DEFAULT);
    c.backoff_max_ms = or_default(o->backoff_max_ms, RKV_BACKOFF_MAX_MS_DEFAULT);
    c.frame_bytes_max = or_default(o->frame_bytes_max, RKV_FRAME_BYTES_MAX_DEFAULT);
    if (c.backoff_base_ms > c.backoff_max_ms || c.frame_bytes_max < CLIENT_FRAME_BYTES_MIN)
        return KV_EINVAL;
    c.routing = !o->routing_off;
    c.ring_refresh_ms = or_default(o->ring_refresh_ms, RKV_RING_REFRESH_MS_DEFAULT);
    c.route_conns_max = or_default(o->route_conns_max, RKV_ROUTE_CONNS_MAX_DEFAULT);
    if (c.route_conns_max > RKV_HOSTS_MAX)
        return KV_EINVAL;
    c.tls = o->tls;
    c.tls_skip_verify = o->tls_skip_verify;
    c.tls_ca_file = o->tls_ca_file;
    c.tls_cert_file = o->tls_cert_file;
    c.tls_key_file = o->tls_key_file;
    if (!c.tls && (c.tls_ca_file || c.tls_cert_file || c.tls_key_file || c.tls_skip_verify))
        return KV_EINVAL;  /* TLS settings without TLS: surely a mistake, refuse it */
    const char *user = o->user ? o->user : "", *password = o->password ? o->password : "";
    if (strlen(user) > RKV_USER_BYTES_MAX || strlen(password) > RKV_PASSWORD_BYTES_MAX ||
        (user[0] == 0 && password[0] != 0))
        return KV_EINVAL;
    memcpy(c.user, user, strlen(user) + 1);
    memcpy(c.password, password, strlen(password) + 1);
    *out = c;
    return KV_OK;
}

/* Copies [s, s + n) into dst as a string if it fits and is not empty. */
static bool copy_part(const char *s, size_t n, char *dst, size_t size)
{
    if (n == 0 || n >= size)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

int client_parse_hostport(const char *s, char *host, size_t host_size, char *port,
                          size_t port_size)
{
    const char *host_start = s, *host_end, *colon;
    if (s[0] == '[') {
        host_start = s + 1;
        host_end = strchr(host_start, ']');
        if (host_end == NULL || host_end[1] != ':')
            return KV_EINVAL;
        colon = host_end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return KV_EINVAL;  /* a bare IPv6 address needs brackets */
        host_end = colon;
    }
    const char *p = colon + 1;
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 5 || p[digits] != '\0')
        return KV_EINVAL;
    long num = strtol(p, NULL, 10);
    if (num < 1 || num > 65535)
        return KV_EINVAL;
    if (!copy_part(host_start, (size_t)(host_end - host_start), host, host_size) ||
        !copy_part(p, digits, port, port_size))
        return KV_EINVAL;
    return KV_OK;
}

uint32_t client_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms, uint64_t rnd)
{
    uint64_t d = base_ms;
    for (uint32_t i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    return (uint32_t)(d - half + rnd % (half + 1));
}

uint32_t client_node_timeout_ms(uint32_t budget_ms)
{
    if (budget_ms > 2 * RKV_NODE_DEADLINE_MARGIN_MS)
        return budget_ms - RKV_NODE_DEADLINE_MARGIN_MS;
    return budget_ms > 1 ? budget_ms / 2 : 1;
}

bool client_status_retriable(int status)
{
    return status == KV_EBUSY || status == KV_EUNAVAIL;
}

bool client_conn_error_retriable(int status)
{
    return status == KV_EUNAVAIL || status == KV_ETIMEDOUT || status == KV_EBUSY ||
           status == KV_ECLOSED;
}

/* Higher is more worth reporting. */
static int error_rank(int s)
{
    switch (s) {
    case KV_EUNAVAIL: return 1;
    case KV_ETIMEDOUT: return 2;
    case KV_EBUSY: return 3;
    case KV_OK: return 0;
    default: return 4;  /* KV_EAUTH, KV_EPROTO, KV_EIO, ...: the user must fix something */
    }
}

int client_worse_error(int a, int b)
{
    return error_rank(b) > error_rank(a) ? b : a;
}

int client_status_from_wire(int32_t wire)
{
    return (wire <= 0 && wire >= KV_STATUS_MIN) ? (int)wire : KV_EPROTO;
}
