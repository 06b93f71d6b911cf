/* status.c - names of status codes and errno mapping. */
#include "common/status.h"

#include <errno.h>

const char *kv_status_str(int status)
{
    switch (status) {
    case KV_OK: return "ok";
    case KV_EIO: return "io error";
    case KV_ECORRUPT: return "corrupt";
    case KV_ENOTFOUND: return "not found";
    case KV_EINVAL: return "invalid argument";
    case KV_ENOMEM: return "out of memory";
    case KV_ETIMEDOUT: return "timed out";
    case KV_EINDOUBT: return "in doubt: may have been applied";
    case KV_EBUSY: return "busy";
    case KV_ETOOBIG: return "too big";
    case KV_ECLOSED: return "closed";
    case KV_EPROTO: return "protocol error";
    case KV_EUNAVAIL: return "unavailable";
    case KV_EAUTH: return "not authorized";
    case KV_EEXIST: return "already exists";
    case KV_ENOSPC: return "no space left";
    case KV_ECONFLICT: return "conflict";
    case KV_ESTATE: return "invalid state";
    }
    return "unknown status";
}

int kv_status_from_errno(int err)
{
    switch (err) {
    case 0: return KV_OK;
    case ENOENT: return KV_ENOTFOUND;
    case ENOMEM: return KV_ENOMEM;
    case EINVAL: return KV_EINVAL;
    case EEXIST: return KV_EEXIST;
    case ENOSPC: case EDQUOT: return KV_ENOSPC;
    case EAGAIN: case EBUSY: return KV_EBUSY;
    case ETIMEDOUT: return KV_ETIMEDOUT;
    case EFBIG: case ENAMETOOLONG: return KV_ETOOBIG;
    default: return KV_EIO;
    }
}
