/*
 * status.h - the one status type of ringkv.
 *
 * Every fallible function returns an int that is KV_OK (0) or one of the
 * negative KV_E* codes below. Results go out through pointer parameters,
 * written only on success. Codes are stable: they cross the wire in RPC
 * replies (proto/kv.proto mirrors them), so never renumber one; add new
 * codes at the end.
 */
#ifndef RINGKV_COMMON_STATUS_H
#define RINGKV_COMMON_STATUS_H

#define KV_MUST_USE __attribute__((warn_unused_result))

enum kv_status {
    KV_OK = 0,
    KV_EIO = -1,         /* the OS reported an I/O error */
    KV_ECORRUPT = -2,    /* stored or received data failed a check */
    KV_ENOTFOUND = -3,   /* no such key / file / entry */
    KV_EINVAL = -4,      /* caller passed something malformed */
    KV_ENOMEM = -5,      /* allocation failed */
    KV_ETIMEDOUT = -6,   /* deadline passed; nothing was changed */
    KV_EINDOUBT = -7,    /* deadline passed; the write may have applied */
    KV_EBUSY = -8,       /* resource held elsewhere (lock, limit reached) */
    KV_ETOOBIG = -9,     /* over a configured size limit */
    KV_ECLOSED = -10,    /* object or connection already closed */
    KV_EPROTO = -11,     /* peer broke the wire protocol */
    KV_EUNAVAIL = -12,   /* not enough replicas / nodes reachable */
    KV_EAUTH = -13,      /* authentication or authorisation refused */
    KV_EEXIST = -14,     /* already exists (NX, error_if_exists) */
    KV_ENOSPC = -15,     /* disk full */
    KV_ECONFLICT = -16,  /* precondition (XX/NX, context) failed */
    KV_ESTATE = -17,     /* operation not valid in the current state */
};
#define KV_STATUS_MIN (-17)

/* Short, stable, lower-case name of a status ("ok", "corrupt", ...). Never NULL. */
const char *kv_status_str(int status);

/* Maps an errno value to the closest KV_E* code. */
int kv_status_from_errno(int err);

#endif
