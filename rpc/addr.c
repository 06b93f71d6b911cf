/* addr.c - HOST:PORT parsing and resolution (contract in addr.h). */
#include "rpc/addr.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rpc_addr_split(const char *hostport, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(hostport, ':');
    const char *h = hostport;
    size_t hlen;
    if (colon == NULL || colon[1] == 0)
        return KV_EINVAL;
    hlen = (size_t)(colon - hostport);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) != NULL) {
        return KV_EINVAL;  /* a bare IPv6 literal is ambiguous: it must be bracketed */
    }
    if (hlen == 0 || hlen >= host_len)
        return KV_EINVAL;
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != 0 || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return KV_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    *port = (uint16_t)p;
    return KV_OK;
}

int rpc_addr_resolve(const char *hostport, struct sockaddr_storage *out, int *len_out)
{
    char host[RPC_ADDR_HOST_BYTES_MAX];
    char port[8];
    uint16_t p;
    int rc = rpc_addr_split(hostport, host, sizeof host, &p);
    if (rc != KV_OK)
        return rc;
    snprintf(port, sizeof port, "%u", (unsigned)p);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return KV_ENOTFOUND;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len_out = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return KV_OK;
}
