/* kernels.c - each of relp's compute kernels on its own, on the matrices of
 * a GPT-2 shape, so that bench/report.py can print the share of the
 * machine's multiply-add peak (or, for a product that reads each weight
 * once, of its read bandwidth) that each kernel attains. machine_limits,
 * run in the same benchmark, gives the peak and the bandwidth.
 *
 *   bench_kernels [--quick]     prints one JSON line per case
 *
 * Cases, one thread, for the GPT-2 small and medium shapes at T = 16 and
 * 256 (the whole model's matrices, weights random f32, so a pass streams
 * them from memory as a forward pass does):
 *   block_xw       x @ W with W packed: the forward pass's four block
 *                  products per layer (qkv, attention out, MLP in and out)
 *   block_xw_t     the same kernel on the transposed copies: the backward
 *                  pass's dx = dy @ W^T
 *   block_xwt      dx = dy @ W^T from the forward panels (the low-memory
 *                  backward, no transposed copy)
 *   attn_fwd       causal attention: scores, softmax, weighted sums
 *   attn_bwd       its exact backward
 *   unembed_row    logits at one position: x @ wte^T over the vocabulary
 * FLOPs count multiply-adds as 2 and leave out softmax and the like. Times
 * are medians of R runs after one warm-up. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint32_t rng = 12345;
static float frand(void) { return (float)((rng = rng * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; }

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

struct shape {
    const char *name;
    int L, C, NH;
};

/* the four block matrices of a layer as (K, O) */
static void block_dims(int C, int dims[4][2]) {
    int d[4][2] = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}};
    memcpy(dims, d, sizeof d);
}

enum which { BLOCK_XW, BLOCK_XW_T, BLOCK_XWT, ATTN_FWD, ATTN_BWD, UNEMBED };
static const char *names[] = {"block_xw", "block_xw_t", "block_xwt", "attn_fwd", "attn_bwd", "unembed_row"};

struct bufs {
    float **P, **Pt; /* per layer x 4: packed, packed transposed */
    float *x, *y, *scratch, *qkv, *att, *dz, *dqkv, *wte;
};

static void run_case(enum which w, const struct shape *s, int T, struct bufs *b) {
    int dims[4][2];
    block_dims(s->C, dims);
    const int HS = s->C / s->NH, V = 50257;
    switch (w) {
    case BLOCK_XW:
        for (int l = 0; l < s->L; l++)
            for (int j = 0; j < 4; j++)
                matmul_xw_packed(NULL, b->y, b->x, b->P[l * 4 + j], RELP_DTYPE_F32, NULL, T, dims[j][0], dims[j][1],
                                 dims[j][0], 0);
        break;
    case BLOCK_XW_T:
        for (int l = s->L - 1; l >= 0; l--)
            for (int j = 3; j >= 0; j--)
                matmul_xw_packed(NULL, b->y, b->x, b->Pt[l * 4 + j], RELP_DTYPE_F32, NULL, T, dims[j][1], dims[j][0],
                                 dims[j][1], 0);
        break;
    case BLOCK_XWT:
        for (int l = s->L - 1; l >= 0; l--)
            for (int j = 3; j >= 0; j--)
                matmul_xwt_packed(NULL, b->y, b->scratch, b->x, b->P[l * 4 + j], RELP_DTYPE_F32, T, dims[j][1],
                                  dims[j][0]);
        break;
    case ATTN_FWD:
        for (int l = 0; l < s->L; l++) attention_forward(NULL, b->y, b->att, b->qkv, 1, T, s->NH, s->NH, HS, 0);
        break;
    case ATTN_BWD:
        for (int l = 0; l < s->L; l++)
            attention_backward(NULL, b->dqkv, b->scratch, b->dz, b->qkv, b->att, 1, T, s->NH, s->NH, HS, 0);
        break;
    case UNEMBED: matmul_xwt(NULL, b->y, b->x, b->wte, RELP_DTYPE_F32, 1, s->C, V); break;
    }
}

/* FLOPs and bytes of weights read by one run of a case */
static void work(enum which w, const struct shape *s, int T, double *flops, double *bytes) {
    const double L = s->L, C = s->C, pairs = (double)T * (T + 1) / 2;
    *bytes = 0;
    switch (w) {
    case BLOCK_XW:
    case BLOCK_XW_T:
    case BLOCK_XWT:
        *flops = 2.0 * T * 12 * L * C * C;
        *bytes = 12 * L * C * C * 4;
        break;
    case ATTN_FWD: *flops = 4 * L * C * pairs; break;  /* q.k and att.v */
    case ATTN_BWD: *flops = 8 * L * C * pairs; break;  /* datt, dv, dq, dk */
    case UNEMBED:
        *flops = 2.0 * 50257 * C;
        *bytes = 50257 * C * 4;
        break;
    }
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: bench_kernels [--quick]\n");
        return 2;
    }
    const struct shape shapes[] = {{"small", 12, 768, 12}, {"medium", 24, 1024, 16}};
    const int Ts[] = {16, 256};
    printf("{\"kernels\":\"%s\"}\n", relp__ops_select(0));
    fflush(stdout);
    for (int si = 0; si < (quick ? 1 : 2); si++) {
        const struct shape *s = &shapes[si];
        int dims[4][2];
        block_dims(s->C, dims);
        const int Tmax = 256, C = s->C, V = 50257;
        struct bufs b;
        b.P = xmalloc(sizeof(float *) * (size_t)s->L * 4);
        b.Pt = xmalloc(sizeof(float *) * (size_t)s->L * 4);
        float *tmp = xmalloc(sizeof(float) * (size_t)16 * C * C);
        for (int l = 0; l < s->L; l++)
            for (int j = 0; j < 4; j++) {
                int K = dims[j][0], O = dims[j][1];
                for (size_t i = 0; i < (size_t)K * O; i++) tmp[i] = frand() * 0.05f;
                b.P[l * 4 + j] = xmalloc(sizeof(float) * relp__packed_count(K, O));
                b.Pt[l * 4 + j] = xmalloc(sizeof(float) * relp__packed_count(O, K));
                relp__pack(b.P[l * 4 + j], RELP_DTYPE_F32, tmp, RELP_DTYPE_F32, K, O);
                relp__pack_transposed(b.Pt[l * 4 + j], RELP_DTYPE_F32, tmp, RELP_DTYPE_F32, K, O);
            }
        free(tmp);
        size_t act = (size_t)Tmax * 4 * C;
        b.x = xmalloc(sizeof(float) * act);
        b.y = xmalloc(sizeof(float) * (act > (size_t)V ? act : (size_t)V));
        b.scratch = xmalloc(sizeof(float) * (size_t)(RELP_PANEL * RELP_XWT_CHUNK > Tmax ? RELP_PANEL * RELP_XWT_CHUNK : Tmax));
        b.qkv = xmalloc(sizeof(float) * (size_t)Tmax * 3 * C);
        b.dqkv = xmalloc(sizeof(float) * (size_t)Tmax * 3 * C);
        b.dz = xmalloc(sizeof(float) * (size_t)Tmax * C);
        b.att = xmalloc(sizeof(float) * (size_t)s->NH * Tmax * Tmax);
        b.wte = xmalloc(sizeof(float) * (size_t)V * C);
        for (size_t i = 0; i < act; i++) b.x[i] = frand();
        for (size_t i = 0; i < (size_t)Tmax * 3 * C; i++) b.qkv[i] = frand();
        for (size_t i = 0; i < (size_t)Tmax * C; i++) b.dz[i] = frand();
        for (size_t i = 0; i < (size_t)V * C; i++) b.wte[i] = frand() * 0.05f;
        for (int ti = 0; ti < 2; ti++) {
            const int T = Ts[ti];
            run_case(ATTN_FWD, s, T, &b); /* attention probabilities for the backward */
            for (int w = 0; w <= UNEMBED; w++) {
                if (w == UNEMBED && ti > 0) continue; /* one row whatever T is */
                const int runs = quick ? 3 : T >= 256 ? 5 : 11;
                double t[11];
                run_case((enum which)w, s, T, &b);
                for (int r = 0; r < runs; r++) {
                    double t0 = now_ms();
                    run_case((enum which)w, s, T, &b);
                    t[r] = now_ms() - t0;
                }
                qsort(t, (size_t)runs, sizeof t[0], cmp_d);
                double flops, bytes, ms = t[runs / 2];
                work((enum which)w, s, T, &flops, &bytes);
                printf("{\"kernel\":\"%s\",\"shape\":\"%s\",\"T\":%d,\"ms\":%.3f,\"gflop\":%.4f,\"gflops\":%.2f,"
                       "\"weight_mb\":%.1f,\"read_gbs\":%.2f,\"runs\":%d}\n",
                       names[w], s->name, w == UNEMBED ? 1 : T, ms, flops * 1e-9, flops / (ms * 1e6), bytes / 1e6,
                       bytes / (ms * 1e6), runs);
                fflush(stdout);
            }
        }
        for (int i = 0; i < s->L * 4; i++) {
            free(b.P[i]);
            free(b.Pt[i]);
        }
        free(b.P);
        free(b.Pt);
        free(b.x);
        free(b.y);
        free(b.scratch);
        free(b.qkv);
        free(b.dqkv);
        free(b.dz);
        free(b.att);
        free(b.wte);
    }
    return 0;
}
