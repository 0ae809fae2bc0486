/* Server options (vae_server_options_parse): defaults, environment variables, flags that win over
 * them, --flag=value, ranges at both ends, model specs, --help/--version, and an error naming the
 * flag or variable for every kind of mistake. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "options.h"

extern char **environ;

static vae_server_options opts;
static vae_error err;
static int exit_now;
static char help[8192];

/* Parses the NULL-terminated flags (argv[0] is added); --help/--version output goes to help. */
static vae_status parse(const char *first, ...) {
    char *argv[64] = {"vae-server"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    FILE *out = fmemopen(help, sizeof help, "w");
    memset(&err, 0, sizeof err);
    vae_status st = vae_server_options_parse(&opts, argc, argv, out, &exit_now, &err);
    fclose(out);
    return st;
}

/* Removes every VAE_* variable the test process inherited. */
static void clear_environment(void) {
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++)
            if (!strncmp(*e, "VAE_", 4)) {
                char name[128];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
    }
}

/* parse() must fail with a message containing `words`. */
#define CHECK_REFUSED(words, ...)                                                                         \
    do {                                                                                                  \
        vae_status st_ = parse(__VA_ARGS__, NULL);                                                        \
        CHECK(st_ == VAE_ERR_ARG && strstr(err.message, (words)), "%s: status %d, message '%s'", (words), \
              (int)st_, err.message);                                                                     \
    } while (0)

static void test_defaults(void) {
    CHECK(parse(NULL) == VAE_OK, "no flags: %s", err.message);
    CHECK(!exit_now, "exit_now without --help");
    CHECK(opts.port == 8080, "port %d", opts.port);
    CHECK(!strcmp(opts.bind, "0.0.0.0"), "bind %s", opts.bind);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(opts.threads == (cpus > 0 ? (int)cpus : 1), "threads %d", opts.threads);
    CHECK(opts.max_body == 4u << 20, "max_body %zu", opts.max_body);
    CHECK(opts.timeout == 15, "timeout %d", opts.timeout);
    CHECK(opts.max_connections == 1000, "max_connections %d", opts.max_connections);
    CHECK(opts.max_pixels == 4096L * 4096L, "max_pixels %ld", opts.max_pixels);
    CHECK(opts.max_batch == 256, "max_batch %d", opts.max_batch);
    CHECK(!opts.cors_origin && !opts.api_key && !opts.healthcheck, "optional strings set");
    CHECK(opts.log_format == VAE_LOG_TEXT, "log format %d", (int)opts.log_format);
    CHECK(opts.shutdown_grace == 20, "grace %d", opts.shutdown_grace);
    CHECK(opts.batching == 1 && opts.batch_size == 64 && opts.batch_wait_us == 0 && opts.batch_queue == 512 &&
              opts.batch_threads == 1,
          "batching %d size %d wait %d queue %d threads %d", opts.batching, opts.batch_size, opts.batch_wait_us,
          opts.batch_queue, opts.batch_threads);
    CHECK(opts.default_models == 1 && opts.n_models == 3, "default models: %d of them", opts.n_models);
    CHECK(opts.n_models == 3 && !strcmp(opts.models[0].name, "mnist") &&
              !strcmp(opts.models[0].path, "model/weights/mnist.safetensors") &&
              !strcmp(opts.models[1].name, "fashion") &&
              !strcmp(opts.models[1].path, "model/weights/fashion.safetensors") &&
              !strcmp(opts.models[2].name, "mnist2d") &&
              !strcmp(opts.models[2].path, "model/weights/mnist2d.safetensors"),
          "default model list");
}

static void test_flags(void) {
    CHECK(parse("--port", "9001", "--bind", "::1", "--threads", "3", "--max-body", "100000", "--timeout", "7",
                "--max-connections", "9", "--max-pixels", "1000", "--max-batch", "5", "--cors-origin", "*",
                "--api-key", "k", "--log-format", "json", "--shutdown-grace", "0", "--batching", "off",
                "--batch-size", "8", "--batch-wait-us", "250", "--batch-queue", "1", "--batch-threads", "2",
                NULL) == VAE_OK,
          "every flag: %s", err.message);
    CHECK(opts.port == 9001 && !strcmp(opts.bind, "::1") && opts.threads == 3 && opts.max_body == 100000 &&
              opts.timeout == 7 && opts.max_connections == 9 && opts.max_pixels == 1000 && opts.max_batch == 5 &&
              !strcmp(opts.cors_origin, "*") && !strcmp(opts.api_key, "k") && opts.log_format == VAE_LOG_JSON &&
              opts.shutdown_grace == 0 && opts.batching == 0 && opts.batch_size == 8 &&
              opts.batch_wait_us == 250 && opts.batch_queue == 1 && opts.batch_threads == 2,
          "every flag's value");
    CHECK(parse("--port=9002", "--api-key=a=b", "--log-format=off", "--batching=on", NULL) == VAE_OK,
          "--flag=value: %s", err.message);
    CHECK(opts.port == 9002 && !strcmp(opts.api_key, "a=b") && opts.log_format == VAE_LOG_OFF && opts.batching == 1,
          "--flag=value values (port %d, key %s)", opts.port, opts.api_key ? opts.api_key : "(null)");
    CHECK(parse("--port", "9003", "--port", "9004", NULL) == VAE_OK && opts.port == 9004, "the last flag wins");
    static const char *const on[] = {"on", "1", "true"}, *const off[] = {"off", "0", "false"};
    for (int i = 0; i < 3; i++) {
        CHECK(parse("--batching", on[i], NULL) == VAE_OK && opts.batching == 1, "--batching %s", on[i]);
        CHECK(parse("--batching", off[i], NULL) == VAE_OK && opts.batching == 0, "--batching %s", off[i]);
    }
    CHECK(parse("--log-format", "text", NULL) == VAE_OK && opts.log_format == VAE_LOG_TEXT, "text log");
}

static void test_environment(void) {
    setenv("VAE_PORT", "7001", 1);
    setenv("VAE_MAX_BATCH", "9", 1);
    setenv("VAE_API_KEY", "envkey", 1);
    setenv("VAE_BATCHING", "off", 1);
    setenv("VAE_MAX_BODY", "", 1); /* empty: ignored */
    CHECK(parse(NULL) == VAE_OK, "environment: %s", err.message);
    CHECK(opts.port == 7001 && opts.max_batch == 9 && !strcmp(opts.api_key, "envkey") && opts.batching == 0 &&
              opts.max_body == 4u << 20,
          "environment values: port %d max_batch %d", opts.port, opts.max_batch);
    /* flags win, and a variable without its flag still applies */
    CHECK(parse("--port", "7002", "--api-key=flagkey", NULL) == VAE_OK, "flags over env: %s", err.message);
    CHECK(opts.port == 7002 && !strcmp(opts.api_key, "flagkey") && opts.max_batch == 9, "flags win (port %d)",
          opts.port);
    setenv("VAE_PORT", "70000", 1);
    CHECK_REFUSED("VAE_PORT", "--port", "7003");
    setenv("VAE_PORT", "x", 1);
    CHECK_REFUSED("VAE_PORT: 'x' is not an integer", "--max-batch", "2");
    clear_environment();

    setenv("VAE_MODELS", "a=one.safetensors,b=two.safetensors", 1);
    CHECK(parse(NULL) == VAE_OK && opts.n_models == 2 && !opts.default_models, "VAE_MODELS: %s", err.message);
    CHECK(opts.n_models == 2 && !strcmp(opts.models[0].name, "a") && !strcmp(opts.models[0].path, "one.safetensors") &&
              !strcmp(opts.models[1].name, "b") && !strcmp(opts.models[1].path, "two.safetensors"),
          "VAE_MODELS list");
    /* --model flags replace the environment's list */
    CHECK(parse("--model", "c=three", "--model", "d=four", NULL) == VAE_OK && opts.n_models == 2 &&
              !strcmp(opts.models[0].name, "c") && !strcmp(opts.models[1].name, "d"),
          "--model replaces VAE_MODELS (%d models, first %s)", opts.n_models, opts.models[0].name);
    setenv("VAE_MODELS", "a=x,,b=y", 1);
    CHECK_REFUSED("VAE_MODELS", "--port", "1");
    clear_environment();
}

static void test_ranges(void) {
    static const struct {
        const char *flag, *lo, *below, *hi, *above;
    } ranges[] = {
        {"--port", "1", "0", "65535", "65536"},
        {"--threads", "1", "0", "256", "257"},
        {"--max-body", "64", "63", "1073741824", "1073741825"},
        {"--timeout", "1", "0", "3600", "3601"},
        {"--max-connections", "1", "0", "1000000", "1000001"},
        {"--max-pixels", "1", "0", "2147483648", "2147483649"},
        {"--max-batch", "1", "0", "4096", "4097"},
        {"--shutdown-grace", "0", "-1", "3600", "3601"},
        {"--batch-size", "1", "0", "1024", "1025"},
        {"--batch-wait-us", "0", "-1", "1000000", "1000001"},
        {"--batch-queue", "1", "0", "65536", "65537"},
        {"--batch-threads", "1", "0", "64", "65"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        CHECK(parse(ranges[i].flag, ranges[i].lo, NULL) == VAE_OK, "%s %s: %s", ranges[i].flag, ranges[i].lo,
              err.message);
        CHECK(parse(ranges[i].flag, ranges[i].hi, NULL) == VAE_OK, "%s %s: %s", ranges[i].flag, ranges[i].hi,
              err.message);
        CHECK_REFUSED("out of range", ranges[i].flag, ranges[i].below);
        CHECK(strstr(err.message, ranges[i].flag), "the message names %s: %s", ranges[i].flag, err.message);
        CHECK_REFUSED("out of range", ranges[i].flag, ranges[i].above);
    }
    CHECK(parse("--max-body", "1073741824", "--max-pixels", "2147483648", NULL) == VAE_OK &&
              opts.max_body == 1u << 30 && opts.max_pixels == 2147483648L,
          "wide values kept whole: %zu %ld", opts.max_body, opts.max_pixels);
    CHECK(parse("--batch-queue", "1", NULL) == VAE_OK && opts.batch_queue == 1, "--batch-queue 1");
}

static void test_errors(void) {
    CHECK_REFUSED("unknown option '--prot'", "--prot", "1");
    CHECK_REFUSED("unknown option 'port'", "port");
    CHECK_REFUSED("unknown option '--por=1'", "--por=1");
    CHECK_REFUSED("--port needs a value", "--port");
    CHECK_REFUSED("'12x' is not an integer", "--port", "12x");
    CHECK_REFUSED("'' is not an integer", "--port=");
    CHECK_REFUSED("is not an integer", "--port", "99999999999999999999999");
    CHECK_REFUSED("'maybe' is not on or off", "--batching", "maybe");
    CHECK_REFUSED("'xml' is not text, json or off", "--log-format", "xml");
    CHECK_REFUSED("is not NAME=PATH", "--model", "noequals");
    CHECK_REFUSED("is not NAME=PATH", "--model", "=path");
    CHECK_REFUSED("is not NAME=PATH", "--model", "name=");
    CHECK_REFUSED("may only use letters", "--model", "a b=path");
    CHECK_REFUSED("may only use letters", "--model", "a/b=path");
    CHECK_REFUSED("given twice", "--model", "a=x", "--model", "a=y");
    CHECK(parse("--model", "A-z_0.9=p", NULL) == VAE_OK, "every allowed name character: %s", err.message);
    CHECK(parse("--model", "a=x=y", NULL) == VAE_OK && !strcmp(opts.models[0].path, "x=y"), "'=' in a path");
    char *long_name = calloc(1100, 1);
    memset(long_name, 'n', 1050);
    strcat(long_name, "=p");
    CHECK_REFUSED("too long", "--model", long_name);
    free(long_name);
    CHECK(parse("--model", "m1=p", "--model", "m2=p", "--model", "m3=p", "--model", "m4=p", "--model", "m5=p",
                "--model", "m6=p", "--model", "m7=p", "--model", "m8=p", NULL) == VAE_OK &&
              opts.n_models == VAE_MAX_MODELS,
          "%d models", VAE_MAX_MODELS);
    CHECK_REFUSED("at most 8 models", "--model", "m1=p", "--model", "m2=p", "--model", "m3=p", "--model", "m4=p",
                  "--model", "m5=p", "--model", "m6=p", "--model", "m7=p", "--model", "m8=p", "--model", "m9=p");
}

static void test_help_version_healthcheck(void) {
    CHECK(parse("--help", NULL) == VAE_OK && exit_now, "--help");
    CHECK(strstr(help, "usage: vae-server") && strstr(help, "--batch-queue N") && strstr(help, "env VAE_BATCH_QUEUE; default 512"),
          "--help text: %.200s", help);
    CHECK(parse("--port", "1", "-h", NULL) == VAE_OK && exit_now, "-h");
    CHECK(parse("--version", NULL) == VAE_OK && exit_now && strstr(help, VAE_SERVER_VERSION), "--version: %s", help);
    CHECK(parse("--healthcheck", NULL) == VAE_OK && opts.healthcheck && !strcmp(opts.healthcheck, ""),
          "--healthcheck alone");
    CHECK(parse("--healthcheck", "http://127.0.0.1:1/ready", NULL) == VAE_OK &&
              !strcmp(opts.healthcheck, "http://127.0.0.1:1/ready"),
          "--healthcheck URL");
    CHECK(parse("--healthcheck=http://h/ready", NULL) == VAE_OK && !strcmp(opts.healthcheck, "http://h/ready"),
          "--healthcheck=URL");
    CHECK(parse("--healthcheck", "--port", "5", NULL) == VAE_OK && !strcmp(opts.healthcheck, "") && opts.port == 5,
          "--healthcheck before another flag");
    CHECK(!exit_now, "--healthcheck does not exit at parse");
}

int main(void) {
    clear_environment();
    test_defaults();
    test_flags();
    test_environment();
    test_ranges();
    test_errors();
    test_help_version_healthcheck();
    CHECK_DONE();
}
