/*
 * log.h - structured, levelled logging to stderr.
 *
 * One line per event:  2026-11-25T15:18:50.123Z level=info mod=wal msg="..." k=v ...
 * The message and key=value pairs are printf-formatted by the caller
 * (convention: msg first, then space-separated key=value pairs). Thread-safe:
 * each line is built in a local buffer and written with one write(2).
 * Lines are cut at KV_LOG_LINE_BYTES_MAX. Never log secrets.
 */
#ifndef RINGKV_COMMON_LOG_H
#define RINGKV_COMMON_LOG_H

#include <stdbool.h>

enum kv_log_level { KV_LOG_DEBUG = 0, KV_LOG_INFO, KV_LOG_WARN, KV_LOG_ERROR, KV_LOG_OFF };

#define KV_LOG_LINE_BYTES_MAX 2048

/* Sets the lowest level that is written (default KV_LOG_INFO). */
void kv_log_set_level(enum kv_log_level level);
enum kv_log_level kv_log_get_level(void);
/* Parses "debug" | "info" | "warn" | "error" | "off"; returns false if unknown. */
bool kv_log_parse_level(const char *name, enum kv_log_level *out);

void kv_log_write(enum kv_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define KV_LOG(level, mod, ...) \
    do { if ((level) >= kv_log_get_level()) kv_log_write((level), (mod), __VA_ARGS__); } while (0)
#define log_debug(mod, ...) KV_LOG(KV_LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  KV_LOG(KV_LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  KV_LOG(KV_LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) KV_LOG(KV_LOG_ERROR, mod, __VA_ARGS__)

#endif
