/* filename.c - see filename.h. */
#include "storage/filename.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FILENAME_MANIFEST_PREFIX "MANIFEST-"
#define FILENAME_TEMP_SUFFIX ".tmp"

int filename_path(char *out, const char *dir, enum filename_kind kind, uint64_t number)
{
    int n;
    switch (kind) {
    case FILENAME_LOG:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/%06" PRIu64 ".log", dir, number);
        break;
    case FILENAME_TABLE:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/%06" PRIu64 ".sst", dir, number);
        break;
    case FILENAME_MANIFEST:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/" FILENAME_MANIFEST_PREFIX "%06" PRIu64, dir, number);
        break;
    case FILENAME_CURRENT_FILE:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/" FILENAME_CURRENT, dir);
        break;
    case FILENAME_LOCK_FILE:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/" FILENAME_LOCK, dir);
        break;
    case FILENAME_TEMP:
        n = snprintf(out, FILENAME_PATH_BYTES_MAX, "%s/" FILENAME_CURRENT FILENAME_TEMP_SUFFIX, dir);
        break;
    default:
        return KV_EINVAL;
    }
    return n > 0 && n < FILENAME_PATH_BYTES_MAX ? KV_OK : KV_EINVAL;
}

/* Parses [p, end) as a decimal number; false if empty, not all digits or too long. */
static bool parse_number(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (p == end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool has_suffix(const char *name, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(name + len - n, suffix, n) == 0;
}

bool filename_parse(const char *name, enum filename_kind *kind, uint64_t *number)
{
    size_t len = strlen(name);
    size_t plen = strlen(FILENAME_MANIFEST_PREFIX);
    *number = 0;
    if (strcmp(name, FILENAME_CURRENT) == 0) {
        *kind = FILENAME_CURRENT_FILE;
        return true;
    }
    if (strcmp(name, FILENAME_LOCK) == 0) {
        *kind = FILENAME_LOCK_FILE;
        return true;
    }
    if (has_suffix(name, len, FILENAME_TEMP_SUFFIX)) {
        *kind = FILENAME_TEMP;
        return true;
    }
    if (len > plen && memcmp(name, FILENAME_MANIFEST_PREFIX, plen) == 0) {
        *kind = FILENAME_MANIFEST;
        return parse_number(name + plen, name + len, number);
    }
    if (has_suffix(name, len, ".log")) {
        *kind = FILENAME_LOG;
        return parse_number(name, name + len - 4, number);
    }
    if (has_suffix(name, len, ".sst")) {
        *kind = FILENAME_TABLE;
        return parse_number(name, name + len - 4, number);
    }
    return false;
}

int filename_parse_current(const char *data, size_t len, uint64_t *number)
{
    size_t plen = strlen(FILENAME_MANIFEST_PREFIX);
    if (len < plen + 2 || memcmp(data, FILENAME_MANIFEST_PREFIX, plen) != 0 || data[len - 1] != '\n')
        return KV_ECORRUPT;
    if (!parse_number(data + plen, data + len - 1, number))
        return KV_ECORRUPT;
    return KV_OK;
}
