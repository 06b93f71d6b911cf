/*
 * fuzz_users.c - libFuzzer over the users file parser (node/auth.h).
 * Invariants (abort on violation): a malformed file is refused with a
 * reason naming its line; a parsed file has at most AUTH_USERS_MAX users.
 * (Password checks run PBKDF2 and are left to the unit test: at >= 1,000
 * iterations they would slow fuzzing a thousandfold.)
 * Seeds: tests/fuzz/corpus/users/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "node/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;
    struct auth_users *u = NULL;
    char why[160] = "";
    int rc = auth_users_parse(copy, size, &u, why, sizeof why);
    if (rc == KV_OK) {
        if (auth_users_count(u) > AUTH_USERS_MAX)
            abort();
        auth_users_free(u);
    } else if (rc == KV_EINVAL && (why[0] == 0 || strncmp(why, "line ", 5) != 0)) {
        abort();
    }
    free(copy);
    return 0;
}
