/* wasm_tiles.c - the packed forward product's register tiles in WASM SIMD128,
 * alone: out (16, O) = x (16, K) @ W + bias for the four GPT-2-small block
 * matrices, f32 panels of 16 columns as core/kernels.inc streams them. Each
 * variant is checked bit for bit against the first (the same sums in the same
 * order) and timed (best of 5 means of 10 calls). What chose KROWS 2 for
 * SIMD128 in core/ops.c:
 *   cur3x4     3 rows x 4 vectors (the former SIMD128 tile)
 *   2x4uU      2 rows x 4 vectors, k unrolled U times
 *   1x4u4      1 row
 *   2x4uUcC    k in chunks of C panel rows, all row tiles per chunk
 *   RxRrel     the weights reloaded for every row (fewer live registers)
 *   RxRuU      R rows x 4 vectors, k unrolled U times
 *   Rx2        R rows x 2 vectors: each half of the panel (8 columns) in turn
 * Build and run (Debian's emscripten 3.1.6 and Node 20):
 *   NODE_PATH=/usr/share/nodejs emcc -O3 -msimd128 -sENVIRONMENT=node -sALLOW_MEMORY_GROWTH=1 \
 *       -sINITIAL_MEMORY=64MB bench/wasm_tiles.c -o /tmp/wasm_tiles.js
 *   node --no-experimental-fetch /tmp/wasm_tiles.js
 * With f32x4.relaxed_madd (fused where the engine has FMA) for every multiply-add:
 *   ... -mrelaxed-simd -DRELAXED ... -o /tmp/wasm_tiles_relaxed.js
 *   node wasm/relaxed_opcodes.mjs /tmp/wasm_tiles_relaxed.wasm
 *   node --no-experimental-fetch --experimental-wasm-relaxed-simd /tmp/wasm_tiles_relaxed.js */
#include <wasm_simd128.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <emscripten.h>
#define P 16
typedef v128_t V;
#ifdef RELAXED
#define FMA(a,b,c) ((v128_t)__builtin_wasm_fma_f32x4((__f32x4)(a),(__f32x4)(b),(__f32x4)(c)))
#else
#define FMA(a,b,c) wasm_f32x4_add(wasm_f32x4_mul(a,b),c)
#endif
#define BC(p) wasm_v128_load32_splat(p)
#define LD(p) wasm_v128_load(p)
#define ST(p,v) wasm_v128_store(p,v)

// V0: current kernels.inc, R rows x 4 vectors, all w in regs
static inline __attribute__((always_inline)) void t_cur(float *out, const float *x, const float *Pn, const float *bias, int K, int O, int n, int o, const int R) {
    V acc[6][4];
    for (int v = 0; v < 4; v++) { V b = LD(bias + o + v*4); for (int r = 0; r < R; r++) acc[r][v] = b; }
    const float *xr = x + (size_t)n*K;
    for (int k = 0; k < K; k++) {
        V w[4]; for (int v = 0; v < 4; v++) w[v] = LD(Pn + (size_t)k*P + v*4);
        for (int r = 0; r < R; r++) { V xb = BC(&xr[(size_t)r*K+k]); for (int v = 0; v < 4; v++) acc[r][v] = FMA(xb, w[v], acc[r][v]); }
    }
    for (int r = 0; r < R; r++) for (int v = 0; v < 4; v++) ST(out + (size_t)(n+r)*O + o + v*4, acc[r][v]);
}
// unrolled-by-U version of the same, R rows
static inline __attribute__((always_inline)) void t_unr(float *out, const float *x, const float *Pn, const float *bias, int K, int O, int n, int o, const int R, const int U, int kc, int kn, int first) {
    V acc[6][4];
    for (int v = 0; v < 4; v++) for (int r = 0; r < R; r++) acc[r][v] = first ? LD(bias + o + v*4) : LD(out + (size_t)(n+r)*O + o + v*4);
    const float *xr = x + (size_t)n*K + kc;
    const float *pp = Pn + (size_t)kc*P;
    int k = 0;
    for (; k + U <= kn; k += U) {
        for (int u = 0; u < U; u++) {
            V w[4]; for (int v = 0; v < 4; v++) w[v] = LD(pp + (size_t)(k+u)*P + v*4);
            for (int r = 0; r < R; r++) { V xb = BC(&xr[(size_t)r*K+k+u]); for (int v = 0; v < 4; v++) acc[r][v] = FMA(xb, w[v], acc[r][v]); }
        }
    }
    for (; k < kn; k++) {
        V w[4]; for (int v = 0; v < 4; v++) w[v] = LD(pp + (size_t)k*P + v*4);
        for (int r = 0; r < R; r++) { V xb = BC(&xr[(size_t)r*K+k]); for (int v = 0; v < 4; v++) acc[r][v] = FMA(xb, w[v], acc[r][v]); }
    }
    for (int r = 0; r < R; r++) for (int v = 0; v < 4; v++) ST(out + (size_t)(n+r)*O + o + v*4, acc[r][v]);
}
// R rows, w reloaded per row (fewer live regs)
static inline __attribute__((always_inline)) void t_rel(float *out, const float *x, const float *Pn, const float *bias, int K, int O, int n, int o, const int R) {
    V acc[6][4];
    for (int v = 0; v < 4; v++) { V b = LD(bias + o + v*4); for (int r = 0; r < R; r++) acc[r][v] = b; }
    const float *xr = x + (size_t)n*K;
    for (int k = 0; k < K; k++) {
        for (int r = 0; r < R; r++) { V xb = BC(&xr[(size_t)r*K+k]); for (int v = 0; v < 4; v++) acc[r][v] = FMA(xb, LD(Pn + (size_t)k*P + v*4), acc[r][v]); }
    }
    for (int r = 0; r < R; r++) for (int v = 0; v < 4; v++) ST(out + (size_t)(n+r)*O + o + v*4, acc[r][v]);
}

static void run_cur(float *out, const float *x, const float *W, const float *bias, int N, int K, int O) {
    for (int ob = 0; ob < O/P; ob++) { const float *Pn = W + (size_t)ob*K*P; int n = 0;
        for (; n + 3 <= N; n += 3) t_cur(out,x,Pn,bias,K,O,n,ob*P,3);
        switch (N-n) { case 2: t_cur(out,x,Pn,bias,K,O,n,ob*P,2); break; case 1: t_cur(out,x,Pn,bias,K,O,n,ob*P,1); break; } }
}
#define RUN_UNR(name, R, U) static void name(float *out, const float *x, const float *W, const float *bias, int N, int K, int O) { \
    for (int ob = 0; ob < O/P; ob++) { const float *Pn = W + (size_t)ob*K*P; int n = 0; \
        for (; n + R <= N; n += R) t_unr(out,x,Pn,bias,K,O,n,ob*P,R,U,0,K,1); \
        for (; n < N; n++) t_unr(out,x,Pn,bias,K,O,n,ob*P,1,U,0,K,1); } }
RUN_UNR(run_2x4_u1, 2, 1)
RUN_UNR(run_2x4_u2, 2, 2)
RUN_UNR(run_2x4_u4, 2, 4)
RUN_UNR(run_1x4_u4, 1, 4)
#define RUN_CH(name, R, U, CH) static void name(float *out, const float *x, const float *W, const float *bias, int N, int K, int O) { \
    for (int ob = 0; ob < O/P; ob++) { const float *Pn = W + (size_t)ob*K*P; \
      for (int kc = 0; kc < K; kc += CH) { int kn = K - kc < CH ? K - kc : CH; int n = 0; \
        for (; n + R <= N; n += R) t_unr(out,x,Pn,bias,K,O,n,ob*P,R,U,kc,kn,kc==0); \
        for (; n < N; n++) t_unr(out,x,Pn,bias,K,O,n,ob*P,1,U,kc,kn,kc==0); } } }
RUN_CH(run_2x4_u4_c256, 2, 4, 256)
RUN_CH(run_2x4_u4_c128, 2, 4, 128)
RUN_CH(run_2x4_u2_c256, 2, 2, 256)
#define RUN_REL(name, R) static void name(float *out, const float *x, const float *W, const float *bias, int N, int K, int O) { \
    for (int ob = 0; ob < O/P; ob++) { const float *Pn = W + (size_t)ob*K*P; int n = 0; \
        for (; n + R <= N; n += R) t_rel(out,x,Pn,bias,K,O,n,ob*P,R); \
        for (; n < N; n++) t_rel(out,x,Pn,bias,K,O,n,ob*P,1); } }
RUN_REL(run_3x4_rel, 3)
RUN_REL(run_2x4_rel, 2)
RUN_REL(run_4x4_rel, 4)
RUN_UNR(run_3x4_u1, 3, 1)
RUN_UNR(run_4x4_u1, 4, 1)


// R rows x 2 vectors: half h of the panel (8 columns)
static inline __attribute__((always_inline)) void t_half(float *out, const float *x, const float *Pn, const float *bias, int K, int O, int n, int o, const int R, int h) {
    V acc[8][2];
    for (int v = 0; v < 2; v++) { V b = LD(bias + o + h*8 + v*4); for (int r = 0; r < R; r++) acc[r][v] = b; }
    const float *xr = x + (size_t)n*K;
    const float *pp = Pn + h*8;
    for (int k = 0; k < K; k++) {
        V w0 = LD(pp + (size_t)k*P), w1 = LD(pp + (size_t)k*P + 4);
        for (int r = 0; r < R; r++) { V xb = BC(&xr[(size_t)r*K+k]); acc[r][0] = FMA(xb, w0, acc[r][0]); acc[r][1] = FMA(xb, w1, acc[r][1]); }
    }
    for (int r = 0; r < R; r++) for (int v = 0; v < 2; v++) ST(out + (size_t)(n+r)*O + o + h*8 + v*4, acc[r][v]);
}
#define RUN_HALF(name, R) static void name(float *out, const float *x, const float *W, const float *bias, int N, int K, int O) { \
    for (int ob = 0; ob < O/P; ob++) { const float *Pn = W + (size_t)ob*K*P; for (int h = 0; h < 2; h++) { int n = 0; \
        for (; n + R <= N; n += R) t_half(out,x,Pn,bias,K,O,n,ob*P,R,h); \
        for (; n < N; n++) t_half(out,x,Pn,bias,K,O,n,ob*P,1,h); } } }
RUN_HALF(run_4x2, 4)
RUN_HALF(run_5x2, 5)
RUN_HALF(run_6x2, 6)
RUN_HALF(run_8x2, 8)
typedef void (*fn)(float *, const float *, const float *, const float *, int, int, int);
static double now(void) { return emscripten_get_now(); }
int main(int argc, char **argv) {
    const int N = 16; int shapes[4][2] = {{768,2304},{768,768},{768,3072},{3072,768}};
    struct { const char *name; fn f; } vs[] = {{"cur3x4",run_cur},{"2x4u1",run_2x4_u1},{"2x4u2",run_2x4_u2},{"2x4u4",run_2x4_u4},{"1x4u4",run_1x4_u4},
        {"2x4u4c256",run_2x4_u4_c256},{"2x4u4c128",run_2x4_u4_c128},{"2x4u2c256",run_2x4_u2_c256},{"3x4rel",run_3x4_rel},{"2x4rel",run_2x4_rel},{"4x4rel",run_4x4_rel},{"3x4u1",run_3x4_u1},{"4x4u1",run_4x4_u1},{"4x2",run_4x2},{"5x2",run_5x2},{"6x2",run_6x2},{"8x2",run_8x2}};
    int nv = sizeof vs / sizeof vs[0];
    float *ref = NULL;
    for (int s = 0; s < 4; s++) {
        int K = shapes[s][0], O = shapes[s][1];
        float *W = malloc(sizeof(float)*K*O), *x = malloc(sizeof(float)*N*K), *b = malloc(sizeof(float)*O), *out = malloc(sizeof(float)*N*O);
        ref = realloc(ref, sizeof(float)*N*O);
        for (size_t i = 0; i < (size_t)K*O; i++) W[i] = (float)((i*2654435761u)%1000)/1000.0f - 0.5f;
        for (int i = 0; i < N*K; i++) x[i] = (float)((i*40503u)%1000)/1000.0f - 0.5f;
        for (int i = 0; i < O; i++) b[i] = 0.01f*i;
        double flops = 2.0*N*K*O;
        for (int v = 0; v < nv; v++) {
            vs[v].f(out,x,W,b,N,K,O);
            if (v == 0) memcpy(ref,out,sizeof(float)*N*O); else if (memcmp(ref,out,sizeof(float)*N*O)) printf("MISMATCH %s\n", vs[v].name);
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) { double t0 = now(); for (int i = 0; i < 10; i++) vs[v].f(out,x,W,b,N,K,O); double t = (now()-t0)/10; if (t < best) best = t; }
            printf("K=%4d O=%4d %-10s %7.3f ms %6.1f GFLOP/s\n", K, O, vs[v].name, best, flops/best/1e6);
        }
        free(W); free(x); free(b); free(out);
    }
    return 0;
}
