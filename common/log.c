/* log.c - see log.h. Formatting cost is paid only for enabled levels. */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = KV_LOG_INFO;

void kv_log_set_level(enum kv_log_level level) { atomic_store(&g_level, (int)level); }
enum kv_log_level kv_log_get_level(void) { return (enum kv_log_level)atomic_load_explicit(&g_level, memory_order_relaxed); }

bool kv_log_parse_level(const char *name, enum kv_log_level *out)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "off" };
    for (int i = 0; i <= KV_LOG_OFF; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum kv_log_level)i;
            return true;
        }
    }
    return false;
}

void kv_log_write(enum kv_log_level level, const char *module, const char *fmt, ...)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "off" };
    char line[KV_LOG_LINE_BYTES_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s msg=",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, names[level], module);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}
