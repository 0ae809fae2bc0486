/* Log lines are formatted into a stack buffer and written with one write(2), so lines from several
 * threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static vae_log_format log_format = VAE_LOG_TEXT;

void vae_log_init(vae_log_format format) { log_format = format; }

/* "2026-11-21T19:40:00.123Z" */
static void timestamp(char *buf, size_t size) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* Copies s into out with JSON escaping of quotes, backslashes and control bytes (lossy past the
 * buffer's end). Returns bytes written. */
static size_t json_escape(char *out, size_t size, const char *s) {
    size_t n = 0;
    for (; *s && n + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

static void write_line(int fd, char *line, int n, size_t size) {
    if (n < 0) return;
    if ((size_t)n >= size - 1) n = (int)size - 2;
    line[n++] = '\n';
    ssize_t ignored = write(fd, line, (size_t)n);
    (void)ignored;
}

void vae_log_access(const char *client, const char *method, const char *path, const char *request_id,
                    int status, size_t bytes, uint64_t micros, const char *reason) {
    if (log_format == VAE_LOG_OFF) return;
    char ts[40], line[1024], safe_path[512];
    timestamp(ts, sizeof ts);
    json_escape(safe_path, sizeof safe_path, path);
    int n;
    if (log_format == VAE_LOG_JSON) {
        if (status)
            n = snprintf(line, sizeof line,
                         "{\"ts\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
                         "\"request_id\":\"%s\",\"status\":%d,\"bytes\":%zu,\"us\":%llu}",
                         ts, client, method, safe_path, request_id, status, bytes, (unsigned long long)micros);
        else
            n = snprintf(line, sizeof line,
                         "{\"ts\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
                         "\"request_id\":\"%s\",\"status\":null,\"bytes\":0,\"us\":%llu,\"aborted\":\"%s\"}",
                         ts, client, method, safe_path, request_id, (unsigned long long)micros, reason);
    } else {
        if (status)
            n = snprintf(line, sizeof line, "%s %s %s %s %d %zu %lluus id=%s", ts, client, method,
                         safe_path, status, bytes, (unsigned long long)micros, request_id);
        else
            n = snprintf(line, sizeof line, "%s %s %s %s - 0 %lluus id=%s aborted: %s", ts, client,
                         method, safe_path, (unsigned long long)micros, request_id, reason);
    }
    write_line(STDOUT_FILENO, line, n, sizeof line);
}

void vae_log_event(const char *level, const char *fmt, ...) {
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n;
    if (log_format == VAE_LOG_JSON) {
        char ts[40], safe[900];
        timestamp(ts, sizeof ts);
        json_escape(safe, sizeof safe, msg);
        n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}", ts, level,
                     safe);
    } else {
        n = snprintf(line, sizeof line, "vae-server: %s%s%s", strcmp(level, "info") ? level : "",
                     strcmp(level, "info") ? ": " : "", msg);
    }
    write_line(STDERR_FILENO, line, n, sizeof line);
}
