/* The out-of-line helpers of util.h: the monotonic clock and mkdir -p. */
#include "util.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>

/* Longest directory path vae_make_dirs accepts (PATH_MAX on Linux). */
#define VAE_DIR_PATH_MAX 4096

double vae_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

vae_status vae_make_dirs(const char *dir, vae_error *err) {
    char path[VAE_DIR_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return vae_error_set(err, VAE_ERR_ARG, "bad directory name '%.64s'", dir);
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return vae_error_set(err, VAE_ERR_IO, "cannot create directory %s: %s", path, strerror(e));
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return vae_error_set(err, VAE_ERR_IO, "cannot create directory %s: %s", dir,
                             strerror(errno ? errno : ENOTDIR));
    return VAE_OK;
}
