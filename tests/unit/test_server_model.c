/* Model calls as the server runs them (server/model_call.c, through the packed inference kernels a
 * loaded model uses, inline and through the batcher) against a reference forward pass written here
 * in double precision from the layer weights: encode (mu, logvar), decode and reconstruct, for every
 * activation (tanh is applied outside the fused kernels, so it is the easiest to lose), for layer
 * widths that leave kernel tails, and for calls longer than the workspace (run in chunks). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "server_fixture.h"

static double act(vae_activation a, double v) {
    switch (a) {
    case VAE_ACT_RELU: return v > 0 ? v : 0;
    case VAE_ACT_LEAKY_RELU: return v > 0 ? v : VAE_LEAKY_SLOPE * v;
    case VAE_ACT_TANH: return tanh(v);
    }
    return NAN;
}

/* out (l.out) = l(in), then the activation when apply is set. */
static void ref_linear(const vae_linear *l, const double *in, double *out, vae_activation a, int apply) {
    for (int o = 0; o < l->out; o++) {
        double s = l->bias[o];
        for (int i = 0; i < l->in; i++) s += (double)l->weight[(size_t)o * l->in + i] * in[i];
        out[o] = apply ? act(a, s) : s;
    }
}

/* One row through the network: mu and logvar of x, or the image of z. */
static void ref_encode(const vae_model *m, const float *x, double *mu, double *logvar) {
    double a[1024], b[1024];
    for (int i = 0; i < VAE_INPUT_DIM; i++) a[i] = x[i];
    double *in = a, *out = b;
    for (int k = 0; k < m->config.n_hidden; k++) {
        ref_linear(&m->layers.enc[k], in, out, m->config.activation, 1);
        double *t = in;
        in = out;
        out = t;
    }
    ref_linear(&m->layers.mu, in, mu, m->config.activation, 0);
    ref_linear(&m->layers.logvar, in, logvar, m->config.activation, 0);
}

static void ref_decode(const vae_model *m, const double *z, double *xhat) {
    double a[1024], b[1024];
    memcpy(a, z, sizeof(double) * (size_t)m->config.latent_dim);
    double *in = a, *out = b;
    for (int k = 0; k < m->config.n_hidden; k++) {
        ref_linear(&m->layers.dec[k], in, out, m->config.activation, 1);
        double *t = in;
        in = out;
        out = t;
    }
    ref_linear(&m->layers.out, in, xhat, m->config.activation, 0);
    for (int i = 0; i < VAE_INPUT_DIM; i++) xhat[i] = 1.0 / (1.0 + exp(-xhat[i]));
}

/* The largest |got - want| over n values, relative to max(1, |want|). */
static double worst(const float *got, const double *want, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(d <= w)) w = d; /* NaN counts as worst */
    }
    return w;
}

#define N_MAX 9
static float x[N_MAX * VAE_INPUT_DIM], z[N_MAX * VAE_MAX_LATENT];
static float mu[N_MAX * VAE_MAX_LATENT], logvar[N_MAX * VAE_MAX_LATENT], xhat[N_MAX * VAE_INPUT_DIM];

/* The three calls on n rows of m, run by run() (inline or batched), against the reference. */
static void check_model(const vae_model *m, const char *what, int n,
                        void (*run)(vae_model_call *mc, vae_workspace *ws), vae_workspace *ws) {
    const int d = m->config.latent_dim;
    for (int i = 0; i < n * VAE_INPUT_DIM; i++) x[i] = (float)((i * 37) % 101) / 100.0f;
    for (int i = 0; i < n * d; i++) z[i] = (float)((i * 13) % 17) * 0.25f - 2.0f;
    vae_model_call enc = {.op = VAE_OP_ENCODE, .model = m, .slot = -1, .n = n, .in = x, .out = mu, .out2 = logvar};
    vae_model_call dec = {.op = VAE_OP_DECODE, .model = m, .slot = -1, .n = n, .in = z, .out = xhat, .out2 = NULL};
    run(&enc, ws);
    double e_mu = 0, e_lv = 0, e_dec = 0, e_rec = 0, rmu[VAE_MAX_LATENT], rlv[VAE_MAX_LATENT], rx[VAE_INPUT_DIM];
    for (int r = 0; r < n; r++) {
        ref_encode(m, x + (size_t)r * VAE_INPUT_DIM, rmu, rlv);
        e_mu = fmax(e_mu, worst(enc.out + (size_t)r * d, rmu, (size_t)d));
        e_lv = fmax(e_lv, worst(enc.out2 + (size_t)r * d, rlv, (size_t)d));
    }
    run(&dec, ws);
    for (int r = 0; r < n; r++) {
        double zd[VAE_MAX_LATENT];
        for (int i = 0; i < d; i++) zd[i] = z[(size_t)r * d + i];
        ref_decode(m, zd, rx);
        e_dec = fmax(e_dec, worst(dec.out + (size_t)r * VAE_INPUT_DIM, rx, VAE_INPUT_DIM));
    }
    vae_model_call rec = {.op = VAE_OP_RECONSTRUCT, .model = m, .slot = -1, .n = n, .in = x, .out = xhat, .out2 = NULL};
    run(&rec, ws);
    for (int r = 0; r < n; r++) {
        ref_encode(m, x + (size_t)r * VAE_INPUT_DIM, rmu, rlv);
        ref_decode(m, rmu, rx);
        e_rec = fmax(e_rec, worst(rec.out + (size_t)r * VAE_INPUT_DIM, rx, VAE_INPUT_DIM));
    }
    const double tol = 2e-5;
    CHECK(e_mu <= tol && e_lv <= tol, "%s, %d rows: encode off by %g (mu), %g (logvar)", what, n, e_mu, e_lv);
    CHECK(e_dec <= tol, "%s, %d rows: decode off by %g", what, n, e_dec);
    CHECK(e_rec <= tol, "%s, %d rows: reconstruct off by %g", what, n, e_rec);
}

static void run_inline(vae_model_call *mc, vae_workspace *ws) { vae_model_call_run(mc, ws); }

/* Through the batcher, as the pipeline queues a call: copied into a job, results read from it. */
static vae_batcher *batcher;
static atomic_int done_calls;
static void on_done(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&done_calls, 1);
}
static void run_batched(vae_model_call *mc, vae_workspace *ws) {
    (void)ws;
    vae_status why;
    vae_batch_job *job = vae_batcher_acquire(batcher, &why);
    if (!job) fx_die("no job");
    vae_batch_job_fill(job, mc, on_done, NULL);
    int before = atomic_load(&done_calls);
    if (vae_batcher_submit(batcher, job) != 0) fx_die("submit refused");
    if (vae_batcher_wait_idle(batcher, 10000) != 0) fx_die("the batcher did not finish");
    CHECK(atomic_load(&done_calls) == before + 1, "one callback per job");
    memcpy(mc->out, job->call.out, sizeof(float) * vae_model_call_out_floats(mc) /
                                       (mc->op == VAE_OP_ENCODE ? 2 : 1));
    if (mc->op == VAE_OP_ENCODE)
        memcpy(mc->out2, job->call.out2, sizeof(float) * (size_t)mc->n * mc->model->config.latent_dim);
    vae_batcher_release(batcher, job);
}

int main(void) {
    static const struct {
        int n_hidden, hidden[3], latent;
    } shapes[] = {{1, {16}, 4}, {2, {37, 13}, 5}, {3, {64, 33, 8}, 3}, {1, {100}, 32}};
    static const vae_activation acts[] = {VAE_ACT_RELU, VAE_ACT_LEAKY_RELU, VAE_ACT_TANH};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t a = 0; a < 3; a++)
            for (int packed = 0; packed <= 1; packed++) {
                vae_model *m = fx_model(shapes[s].n_hidden, shapes[s].hidden, shapes[s].latent, acts[a], 0,
                                        100 + s * 3 + a, packed);
                CHECK(!!m->inference == packed, "packed %d", packed);
                char what[96], arch[64];
                vae_config_architecture_string(&m->config, arch, sizeof arch);
                snprintf(what, sizeof what, "%s %s%s", arch, vae_activation_name(acts[a]),
                         packed ? " (packed, as served)" : " (OpenBLAS)");
                /* a workspace of 3 rows: 7 and 9 rows run in chunks */
                vae_workspace *ws = vae_workspace_create(vae_config_max_width(&m->config), 3);
                static const int ns[] = {1, 2, 3, 4, 7, 9};
                for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) check_model(m, what, ns[k], run_inline, ws);
                /* the batcher's own workspace and buffers: calls of up to a job's rows */
                vae_batcher_config bc = {.threads = 1, .max_rows = 8, .wait_us = 0, .queue = 2};
                vae_error err = {0};
                vae_metrics metrics;
                vae_metrics_init(&metrics);
                batcher = vae_batcher_create(&bc, vae_config_max_width(&m->config), m->config.latent_dim, &metrics,
                                             &err);
                if (!batcher) fx_die(err.message);
                for (int n = 1; n <= VAE_BATCH_JOB_ROWS; n++) {
                    char bw[128];
                    snprintf(bw, sizeof bw, "%s, batched", what);
                    check_model(m, bw, n, run_batched, ws);
                }
                vae_batcher_destroy(batcher);
                vae_workspace_destroy(ws);
                vae_model_destroy(m);
            }
    CHECK_DONE();
}
