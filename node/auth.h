/*
 * auth.h - users, roles and password checks of a kvnode (--users-file).
 *
 * Authentication is off unless kvnode gets --users-file: then every
 * native connection must name a user in its Hello (kv.proto Credentials)
 * and every RESP connection must AUTH before anything but AUTH, HELLO,
 * PING... (node/resp_commands.c lists them). Roles are ordered:
 *
 *   read  < write < admin < node
 *   read:  Get, BatchGet, Ttl, Stats, Ping, admin MEMBERS / RING views
 *   write: read + Put, BatchPut, Delete, Expire, Incr
 *   admin: write + every other Admin op (ring changes, repair, ...)
 *   node:  another kvnode; never in the users file: granted only to a
 *          Hello with role NODE over mutual TLS whose certificate carries
 *          the URI ringkv://CLUSTER/node/NODE_ID (see rpc/tls.h)
 *
 * Users file (text, at most AUTH_FILE_BYTES_MAX, AUTH_USERS_MAX lines of
 * users). Blank lines and lines starting with '#' are ignored. A user:
 *
 *   NAME:ROLE:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX
 *   alice:write:pbkdf2-sha256:20000:8f1c...(32 hex):4a7b...(64 hex)
 *
 * NAME is 1..AUTH_USER_BYTES_MAX of [A-Za-z0-9._@-]; ROLE read, write or
 * admin; HASH = PBKDF2-HMAC-SHA256(secret, salt, ITERATIONS, 32 bytes).
 * `kvnode --hash-password NAME:ROLE` reads a secret from stdin and prints
 * such a line. PBKDF2 and not scrypt: it is in every OpenSSL we build
 * against, it is FIPS-approved, and its cost is CPU only, so a burst of
 * logins cannot make the node allocate scrypt's megabytes per attempt.
 *
 * Cost: a check runs PBKDF2 (ITERATIONS x 2 SHA-256 blocks, ~5 ms at
 * 20,000) on the caller's thread (the event loop). After a success the
 * user keeps SHA-256(salt || secret), so reconnecting with the same
 * secret costs one hash; a wrong secret always pays the full PBKDF2. An
 * unknown user pays it too (against a dummy entry), so timing does not
 * tell which users exist. Secrets are never logged nor kept in clear.
 *
 * Threading: an auth_users belongs to one thread (the verified-secret
 * cache is written by auth_check).
 */
#ifndef RINGKV_NODE_AUTH_H
#define RINGKV_NODE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define AUTH_USER_BYTES_MAX 64u
#define AUTH_SECRET_BYTES_MAX 256u
#define AUTH_USERS_MAX 1024u
#define AUTH_FILE_BYTES_MAX (1024u * 1024u)       /* 1 MiB users file */
#define AUTH_SALT_BYTES 16u
#define AUTH_HASH_BYTES 32u                       /* SHA-256 output */
#define AUTH_PBKDF2_ITERATIONS_DEFAULT 20000u
#define AUTH_PBKDF2_ITERATIONS_MIN 1000u
#define AUTH_PBKDF2_ITERATIONS_MAX 10000000u
/* "NAME:ROLE:pbkdf2-sha256:ITER:SALT:HASH" + NUL */
#define AUTH_LINE_BYTES_MAX (AUTH_USER_BYTES_MAX + 8 + 14 + 9 + 2 * AUTH_SALT_BYTES + \
                             2 * AUTH_HASH_BYTES + 8)

enum auth_role {
    AUTH_ROLE_NONE = 0,   /* not authenticated: nothing allowed */
    AUTH_ROLE_READ = 1,
    AUTH_ROLE_WRITE = 2,
    AUTH_ROLE_ADMIN = 3,
    AUTH_ROLE_NODE = 4,   /* another kvnode (certificate), never from the users file */
};

struct auth_users;

/* "read", "write", "admin", "node", "none". */
const char *auth_role_name(enum auth_role r);
/* Parses "read", "write" or "admin". KV_OK and *out, or KV_EINVAL. */
int auth_role_parse(const char *s, enum auth_role *out) KV_MUST_USE;

/*
 * Parses a users file held in text[0..len) (need not be NUL-terminated).
 * KV_OK and *out (owned by the caller: auth_users_free); KV_EINVAL with
 * "line N: reason" in why (never containing a hash); KV_ETOOBIG over
 * AUTH_FILE_BYTES_MAX or AUTH_USERS_MAX; KV_ENOMEM.
 */
int auth_users_parse(const char *text, size_t len, struct auth_users **out, char *why,
                     size_t why_len) KV_MUST_USE;

/* Reads and parses path. Same results, plus KV_EIO; logs the reason once. */
int auth_users_load(const char *path, struct auth_users **out) KV_MUST_USE;

void auth_users_free(struct auth_users *u);
size_t auth_users_count(const struct auth_users *u);

/*
 * Checks user and secret[0..secret_len). KV_OK and *role_out, or KV_EAUTH
 * (unknown user or wrong secret: the caller must not say which). Reads
 * the pointers only during the call.
 */
int auth_check(struct auth_users *u, const char *user, const void *secret, size_t secret_len,
               enum auth_role *role_out) KV_MUST_USE;

/*
 * Writes a users-file line (no newline) for name, role and secret with a
 * fresh random salt into out (cap bytes, >= AUTH_LINE_BYTES_MAX).
 * KV_OK; KV_EINVAL (bad name, role, empty or over-long secret,
 * iterations out of range); KV_EIO (no randomness).
 */
int auth_hash_line(const char *name, enum auth_role role, const void *secret, size_t secret_len,
                   uint32_t iterations, char *out, size_t cap) KV_MUST_USE;

/*
 * The role a native Hello earns. users: NULL = authentication off (every
 * connection gets AUTH_ROLE_NODE, i.e. everything is allowed).
 * role_node: the Hello said ROLE_NODE; node_id: its node id; cert_uri: the
 * ringkv:// URI of the peer's verified certificate, or NULL.
 * user/secret: the Hello's Credentials (NULL when absent).
 * KV_OK and *role_out, or KV_EAUTH with a reason in why (no secret in it).
 */
int auth_hello(struct auth_users *users, const char *cluster_name, bool role_node,
               const char *node_id, const char *cert_uri, const char *user, const char *secret,
               enum auth_role *role_out, char *why, size_t why_len) KV_MUST_USE;

#endif
