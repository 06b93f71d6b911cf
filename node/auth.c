/* auth.c - users file, PBKDF2 checks, Hello roles (contract and file format in auth.h). */
#include "node/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"

#define AUTH_SCHEME "pbkdf2-sha256"

struct auth_user {
    char name[AUTH_USER_BYTES_MAX + 1];
    enum auth_role role;
    uint32_t iterations;
    uint8_t salt[AUTH_SALT_BYTES];
    uint8_t hash[AUTH_HASH_BYTES];
    bool verified_ok;                     /* verified holds SHA-256(salt || last good secret) */
    uint8_t verified[AUTH_HASH_BYTES];
};

struct auth_users {
    struct auth_user *users;
    size_t n;
    struct auth_user dummy;  /* checked for unknown names, so they take as long */
};

const char *auth_role_name(enum auth_role r)
{
    switch (r) {
    case AUTH_ROLE_READ: return "read";
    case AUTH_ROLE_WRITE: return "write";
    case AUTH_ROLE_ADMIN: return "admin";
    case AUTH_ROLE_NODE: return "node";
    default: return "none";
    }
}

int auth_role_parse(const char *s, enum auth_role *out)
{
    static const enum auth_role roles[] = { AUTH_ROLE_READ, AUTH_ROLE_WRITE, AUTH_ROLE_ADMIN };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(s, auth_role_name(roles[i])) == 0) {
            *out = roles[i];
            return KV_OK;
        }
    }
    return KV_EINVAL;
}

static bool auth_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > AUTH_USER_BYTES_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int auth_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return KV_EINVAL;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return KV_EINVAL;
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : (v << 4));
    }
    return KV_OK;
}

static void auth_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* Splits line[0..len) at ':' into exactly nfields pieces. */
static bool auth_split(const char *line, size_t len, const char **f, size_t *flen, size_t nfields)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ':')
            continue;
        if (k == nfields)
            return false;
        f[k] = line + start;
        flen[k++] = i - start;
        start = i + 1;
    }
    return k == nfields;
}

/* Parses one user line. KV_OK or KV_EINVAL with the reason in why. */
static int auth_parse_line(const char *line, size_t len, struct auth_user *u, const char **why)
{
    const char *f[6];
    size_t fl[6];
    char tmp[16];
    if (!auth_split(line, len, f, fl, 6)) {
        *why = "expected NAME:ROLE:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX";
        return KV_EINVAL;
    }
    if (!auth_name_ok(f[0], fl[0])) {
        *why = "user name must be 1..64 of A-Z a-z 0-9 . _ @ -";
        return KV_EINVAL;
    }
    memcpy(u->name, f[0], fl[0]);
    u->name[fl[0]] = 0;
    if (fl[1] >= sizeof tmp || (memcpy(tmp, f[1], fl[1]), tmp[fl[1]] = 0,
                                auth_role_parse(tmp, &u->role) != KV_OK)) {
        *why = "role must be read, write or admin";
        return KV_EINVAL;
    }
    if (fl[2] != strlen(AUTH_SCHEME) || memcmp(f[2], AUTH_SCHEME, fl[2]) != 0) {
        *why = "hash scheme must be " AUTH_SCHEME;
        return KV_EINVAL;
    }
    uint64_t it = 0;
    for (size_t i = 0; i < fl[3] && it <= AUTH_PBKDF2_ITERATIONS_MAX; i++)
        it = (f[3][i] >= '0' && f[3][i] <= '9') ? it * 10 + (uint64_t)(f[3][i] - '0') : UINT64_MAX;
    if (fl[3] == 0 || it < AUTH_PBKDF2_ITERATIONS_MIN || it > AUTH_PBKDF2_ITERATIONS_MAX) {
        *why = "iterations must be a number from 1000 to 10000000";
        return KV_EINVAL;
    }
    u->iterations = (uint32_t)it;
    if (auth_hex_decode(f[4], fl[4], u->salt, AUTH_SALT_BYTES) != KV_OK ||
        auth_hex_decode(f[5], fl[5], u->hash, AUTH_HASH_BYTES) != KV_OK) {
        *why = "salt must be 32 and hash 64 hex digits";
        return KV_EINVAL;
    }
    return KV_OK;
}

static bool auth_line_blank(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    return i == len || line[i] == '#';
}

/* Parses one non-blank line into a new entry of u. KV_OK, or an error with why set. */
static int auth_users_add(struct auth_users *u, const char *line, size_t len, size_t lineno,
                          char *why, size_t why_len)
{
    if (u->n == AUTH_USERS_MAX) {
        snprintf(why, why_len, "line %zu: more than %u users", lineno, AUTH_USERS_MAX);
        return KV_ETOOBIG;
    }
    if (u->n % 16 == 0) {
        struct auth_user *nu = realloc(u->users, (u->n + 16) * sizeof *nu);
        if (nu == NULL)
            return KV_ENOMEM;
        u->users = nu;
    }
    struct auth_user *e = &u->users[u->n];
    memset(e, 0, sizeof *e);
    const char *reason = NULL;
    if (auth_parse_line(line, len, e, &reason) != KV_OK) {
        snprintf(why, why_len, "line %zu: %s", lineno, reason);
        return KV_EINVAL;
    }
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->users[i].name, e->name) == 0) {
            snprintf(why, why_len, "line %zu: user %s appears twice", lineno, e->name);
            return KV_EINVAL;
        }
    }
    u->n++;
    return KV_OK;
}

int auth_users_parse(const char *text, size_t len, struct auth_users **out, char *why,
                     size_t why_len)
{
    if (len > AUTH_FILE_BYTES_MAX) {
        snprintf(why, why_len, "users file larger than %u bytes", AUTH_FILE_BYTES_MAX);
        return KV_ETOOBIG;
    }
    struct auth_users *u = calloc(1, sizeof *u);
    if (u == NULL)
        return KV_ENOMEM;
    int rc = KV_OK;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len && rc == KV_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t line_len = end - pos;
        if (line_len > 0 && text[end - 1] == '\r')
            line_len--;
        lineno++;
        if (!auth_line_blank(text + pos, line_len))
            rc = auth_users_add(u, text + pos, line_len, lineno, why, why_len);
        pos = end + 1;
    }
    if (rc != KV_OK) {
        auth_users_free(u);
        return rc;
    }
    u->dummy.iterations = AUTH_PBKDF2_ITERATIONS_DEFAULT;
    *out = u;
    return KV_OK;
}

int auth_users_load(const char *path, struct auth_users **out)
{
    char why[160] = "";
    char *text = NULL;
    size_t len = 0;
    int rc = KV_EIO;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, sizeof why, "cannot open: %s", strerror(errno));
        goto fail;
    }
    text = malloc(AUTH_FILE_BYTES_MAX + 1);
    rc = KV_ENOMEM;
    if (text == NULL)
        goto fail;
    len = fread(text, 1, AUTH_FILE_BYTES_MAX + 1, f);
    rc = KV_EIO;
    if (ferror(f)) {
        snprintf(why, sizeof why, "cannot read: %s", strerror(errno));
        goto fail;
    }
    rc = auth_users_parse(text, len, out, why, sizeof why);
fail:
    if (f)
        fclose(f);
    free(text);
    if (rc != KV_OK)
        log_error("auth", "users file refused path=%s reason=\"%s\"", path, why[0] ? why : kv_status_str(rc));
    return rc;
}

void auth_users_free(struct auth_users *u)
{
    if (u == NULL)
        return;
    OPENSSL_cleanse(u->users, u->n * sizeof *u->users);
    free(u->users);
    free(u);
}

size_t auth_users_count(const struct auth_users *u)
{
    return u->n;
}

static int auth_pbkdf2(const void *secret, size_t len, const uint8_t *salt, uint32_t iterations,
                       uint8_t *out)
{
    int ok = PKCS5_PBKDF2_HMAC(secret, (int)len, salt, AUTH_SALT_BYTES, (int)iterations,
                               EVP_sha256(), AUTH_HASH_BYTES, out);
    return ok == 1 ? KV_OK : KV_EIO;
}

/* SHA-256(salt || secret); secret_len <= AUTH_SECRET_BYTES_MAX (checked by the caller). */
static int auth_quick_digest(const struct auth_user *e, const void *secret, size_t len, uint8_t *out)
{
    uint8_t buf[AUTH_SALT_BYTES + AUTH_SECRET_BYTES_MAX];
    unsigned int n = 0;
    memcpy(buf, e->salt, AUTH_SALT_BYTES);
    if (len > 0)
        memcpy(buf + AUTH_SALT_BYTES, secret, len);
    int ok = EVP_Digest(buf, AUTH_SALT_BYTES + len, out, &n, EVP_sha256(), NULL);
    OPENSSL_cleanse(buf, sizeof buf);
    return ok == 1 && n == AUTH_HASH_BYTES ? KV_OK : KV_EIO;
}

int auth_check(struct auth_users *u, const char *user, const void *secret, size_t secret_len,
               enum auth_role *role_out)
{
    struct auth_user *e = &u->dummy;
    for (size_t i = 0; user != NULL && i < u->n; i++)
        if (strcmp(u->users[i].name, user) == 0)
            e = &u->users[i];
    if (secret_len > AUTH_SECRET_BYTES_MAX)
        return KV_EAUTH;
    uint8_t quick[AUTH_HASH_BYTES], slow[AUTH_HASH_BYTES];
    if (auth_quick_digest(e, secret, secret_len, quick) != KV_OK)
        return KV_EAUTH;
    if (e->verified_ok && CRYPTO_memcmp(quick, e->verified, AUTH_HASH_BYTES) == 0) {
        *role_out = e->role;
        return KV_OK;
    }
    if (auth_pbkdf2(secret, secret_len, e->salt, e->iterations, slow) != KV_OK)
        return KV_EAUTH;
    if (e == &u->dummy || CRYPTO_memcmp(slow, e->hash, AUTH_HASH_BYTES) != 0)
        return KV_EAUTH;
    memcpy(e->verified, quick, AUTH_HASH_BYTES);
    e->verified_ok = true;
    *role_out = e->role;
    return KV_OK;
}

int auth_hash_line(const char *name, enum auth_role role, const void *secret, size_t secret_len,
                   uint32_t iterations, char *out, size_t cap)
{
    uint8_t salt[AUTH_SALT_BYTES], hash[AUTH_HASH_BYTES];
    char salt_hex[2 * AUTH_SALT_BYTES + 1], hash_hex[2 * AUTH_HASH_BYTES + 1];
    if (!auth_name_ok(name, strlen(name)) || role < AUTH_ROLE_READ || role > AUTH_ROLE_ADMIN ||
        secret_len == 0 || secret_len > AUTH_SECRET_BYTES_MAX ||
        iterations < AUTH_PBKDF2_ITERATIONS_MIN || iterations > AUTH_PBKDF2_ITERATIONS_MAX ||
        cap < AUTH_LINE_BYTES_MAX)
        return KV_EINVAL;
    if (RAND_bytes(salt, sizeof salt) != 1)
        return KV_EIO;
    if (auth_pbkdf2(secret, secret_len, salt, iterations, hash) != KV_OK)
        return KV_EIO;
    auth_hex_encode(salt, sizeof salt, salt_hex);
    auth_hex_encode(hash, sizeof hash, hash_hex);
    snprintf(out, cap, "%s:%s:" AUTH_SCHEME ":%u:%s:%s", name, auth_role_name(role), iterations,
             salt_hex, hash_hex);
    return KV_OK;
}

/* Whether cert_uri is exactly ringkv://CLUSTER/node/NODE_ID. */
static bool auth_node_uri_ok(const char *cert_uri, const char *cluster_name, const char *node_id)
{
    char want[256];
    int n = snprintf(want, sizeof want, "ringkv://%s/node/%s", cluster_name, node_id);
    return cert_uri != NULL && node_id[0] != 0 && n > 0 && (size_t)n < sizeof want &&
           strcmp(cert_uri, want) == 0;
}

int auth_hello(struct auth_users *users, const char *cluster_name, bool role_node,
               const char *node_id, const char *cert_uri, const char *user, const char *secret,
               enum auth_role *role_out, char *why, size_t why_len)
{
    if (users == NULL) {
        *role_out = AUTH_ROLE_NODE;
        return KV_OK;
    }
    if (role_node) {
        if (!auth_node_uri_ok(cert_uri, cluster_name, node_id)) {
            snprintf(why, why_len, "a node must connect over mutual TLS with a certificate for "
                     "ringkv://%s/node/<its node id>", cluster_name);
            return KV_EAUTH;
        }
        *role_out = AUTH_ROLE_NODE;
        return KV_OK;
    }
    if (user == NULL || user[0] == 0) {
        snprintf(why, why_len, "authentication required: send a user and password "
                 "(kvctl --user, RINGKV_USER / RINGKV_PASSWORD)");
        return KV_EAUTH;
    }
    if (auth_check(users, user, secret ? secret : "", secret ? strlen(secret) : 0, role_out) != KV_OK) {
        snprintf(why, why_len, "invalid user name or password");
        return KV_EAUTH;
    }
    return KV_OK;
}
