/* ops.c - GPT-2 layer kernels (see ops.h): the scalar references, the SIMD
 * instantiations of kernels.inc, run-time selection and the threaded
 * drivers. LayerNorm, GELU and attention are written here once in plain C
 * on top of the dot / axpy kernels, which are the SIMD parts they need. */
#include "ops.h"

#include "internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RELP_NO_SIMD)
#define RELP_HAVE_AVX2 1
#include <cpuid.h>
#include <immintrin.h>
#endif
#if defined(__wasm_simd128__) && !defined(RELP_NO_SIMD)
#define RELP_HAVE_WASM_SIMD 1
#include <wasm_simd128.h>
#endif

/* ------------------------------------------------ portable 4-lane target */
typedef struct { float v[4]; } vec4;
static inline vec4 g_zero(void) { vec4 r = {{0, 0, 0, 0}}; return r; }
static inline vec4 g_set1(float f) { vec4 r = {{f, f, f, f}}; return r; }
static inline vec4 g_load(const float *p) { vec4 r; memcpy(r.v, p, 16); return r; }
static inline void g_store(float *p, vec4 a) { memcpy(p, a.v, 16); }
static inline vec4 g_fma(vec4 a, vec4 b, vec4 c) {
    for (int i = 0; i < 4; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
}
static inline vec4 g_add(vec4 a, vec4 b) {
    for (int i = 0; i < 4; i++) a.v[i] += b.v[i];
    return a;
}
static inline float g_reduce(vec4 a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
static inline vec4 g_loadh(const uint16_t *p) {
    vec4 r;
    for (int i = 0; i < 4; i++) r.v[i] = relp__f16_to_f32(p[i]);
    return r;
}
static inline vec4 g_loadb(const uint16_t *p) {
    vec4 r;
    for (int i = 0; i < 4; i++) r.v[i] = relp__bf16_to_f32(p[i]);
    return r;
}
#define K(name) name##_generic
#define KATTR
#define VEC vec4
#define VL 4
#define VZERO g_zero
#define VSET1 g_set1
#define VLOAD g_load
#define VSTORE g_store
#define VFMA g_fma
#define VADD g_add
#define VREDUCE g_reduce
#define VLOADH g_loadh
#define VLOADB g_loadb
#define KF16_CHUNKED 1
#include "kernels.inc"
#undef K
#undef KATTR
#undef VEC
#undef VL
#undef VZERO
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VFMA
#undef VADD
#undef VREDUCE
#undef VLOADH
#undef VLOADB
#undef KF16_CHUNKED

/* ------------------------------------------------ AVX2 + FMA + F16C */
#ifdef RELP_HAVE_AVX2
#define AVX_ATTR __attribute__((target("avx2,fma,f16c")))
static inline AVX_ATTR float a_reduce(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);                    /* 4 */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));           /* 2 */
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));       /* 1 */
    return _mm_cvtss_f32(s);
}
/* 8 bfloat16s to floats: each is the high half of its float */
static inline AVX_ATTR __m256 a_loadb(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
#define VLOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define VLOADB(p) a_loadb(p)
/* dst[j][i] = src[i][j] for an 8 x 8 block (src f32, f16 or bf16, dst f32) */
static inline AVX_ATTR void a_transpose8(float *dst, size_t ds, const void *src, size_t si, size_t ss,
                                         enum relp_dtype wdt) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) {
        const size_t at = si + i * ss;
        r[i] = wdt == RELP_DTYPE_F32   ? _mm256_loadu_ps((const float *)src + at)
               : wdt == RELP_DTYPE_F16 ? VLOADH((const uint16_t *)src + at)
                                       : VLOADB((const uint16_t *)src + at);
    }
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ds, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#define KTRANSPOSE8 a_transpose8
#define K(name) name##_avx2
#define KATTR AVX_ATTR
#define VEC __m256
#define VL 8
#define VZERO() _mm256_setzero_ps()
#define VSET1(f) _mm256_set1_ps(f)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VREDUCE(v) a_reduce(v)
#define KPREFETCH(P, wdt, i) _mm_prefetch((const char *)(P) + (i) * ((wdt) == RELP_DTYPE_F32 ? 4 : 2), _MM_HINT_T0)
#ifndef KPREFETCH_DIST
#define KPREFETCH_DIST 128
#endif
#include "kernels.inc"
#undef KPREFETCH
#undef K
#undef KATTR
#undef VEC
#undef VL
#undef VZERO
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VFMA
#undef VADD
#undef VREDUCE
#undef VLOADH
#undef VLOADB
#undef KTRANSPOSE8
#endif

/* ------------------------------------------------ WASM SIMD128 */
#ifdef RELP_HAVE_WASM_SIMD
static inline float w_reduce(v128_t v) {
    return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
           (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
/* 4 halves to floats, exactly (SIMD128 has no conversion instruction): the
 * exponent and mantissa shifted into place read as a float, times 2^112,
 * rebias normals and subnormals alike; exponent 31 (Inf, NaN) is set to all
 * ones instead; the sign is or'ed back. */
static inline v128_t w_loadh(const uint16_t *p) {
    v128_t h = wasm_u32x4_load16x4(p);
    v128_t sign = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16);
    v128_t em = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13);
    v128_t f = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
    v128_t special = wasm_u32x4_ge(em, wasm_i32x4_splat(0x0f800000));
    f = wasm_v128_bitselect(wasm_v128_or(em, wasm_i32x4_splat(0x7f800000)), f, special);
    return wasm_v128_or(f, sign);
}
/* 4 bfloat16s to floats: each is the high half of its float */
static inline v128_t w_loadb(const uint16_t *p) { return wasm_i32x4_shl(wasm_u32x4_load16x4(p), 16); }
/* dst[j * ds + k] = src[idx + k * ss + j] for j, k in [0, 8): four 4 x 4
 * transposes in registers (the backward product's panel slices). */
static inline void w_transpose8(float *dst, int ds, const void *P, size_t idx, int ss, enum relp_dtype wdt) {
    for (int bi = 0; bi < 8; bi += 4)
        for (int bj = 0; bj < 8; bj += 4) {
            v128_t v[4];
            for (int r = 0; r < 4; r++) {
                size_t i = idx + (size_t)(bi + r) * ss + bj;
                v[r] = wdt == RELP_DTYPE_F32   ? wasm_v128_load((const float *)P + i)
                       : wdt == RELP_DTYPE_F16 ? w_loadh((const uint16_t *)P + i)
                                               : w_loadb((const uint16_t *)P + i);
            }
            v128_t t0 = wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7);
            v128_t t2 = wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7);
            wasm_v128_store(dst + (size_t)(bj + 0) * ds + bi, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
            wasm_v128_store(dst + (size_t)(bj + 1) * ds + bi, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
            wasm_v128_store(dst + (size_t)(bj + 2) * ds + bi, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
            wasm_v128_store(dst + (size_t)(bj + 3) * ds + bi, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        }
}

/* w_loadh against the scalar conversion on all 65536 halves: the number
 * that differ (NaN == NaN). For the WebAssembly tests. */
int relp__wasm_f16_mismatches(void) {
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i += 4) {
        uint16_t h[4] = {(uint16_t)i, (uint16_t)(i + 1), (uint16_t)(i + 2), (uint16_t)(i + 3)};
        float got[4];
        wasm_v128_store(got, w_loadh(h));
        for (int k = 0; k < 4; k++) {
            float want = relp__f16_to_f32(h[k]);
            if (got[k] != got[k] && want != want) continue;
            bad += memcmp(&got[k], &want, sizeof want) != 0;
        }
    }
    return bad;
}
#define K(name) name##_wasm
#define KATTR
#define VEC v128_t
#define VL 4
#define VZERO() wasm_f32x4_splat(0.0f)
#define VSET1(f) wasm_f32x4_splat(f)
#define VBCAST(p) wasm_v128_load32_splat(p) /* one instruction: load and splat */
#define VLOAD(p) wasm_v128_load(p)
#define VSTORE(p, v) wasm_v128_store(p, v)
#ifdef __wasm_relaxed_simd__
/* The relaxed build (-mrelaxed-simd, relp_engine_relaxed): a * b + c in one
 * f32x4.relaxed_madd, fused where the engine has FMA (V8 on x64 with FMA3,
 * arm64), one rounding fewer than mul + add, so results differ from the plain
 * build in the last bits. clang 16 and later name it
 * __builtin_wasm_relaxed_madd_f32x4; clang 14 (Debian's emscripten 3.1.6)
 * only knows the proposal's pre-standard f32x4.fma (same operands, opcode
 * 0xfd 0xaf), which wasm/relaxed_opcodes.mjs renumbers after the link. */
#if __has_builtin(__builtin_wasm_relaxed_madd_f32x4)
#define VFMA(a, b, c) ((v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)(a), (__f32x4)(b), (__f32x4)(c)))
#else
#define VFMA(a, b, c) ((v128_t)__builtin_wasm_fma_f32x4((__f32x4)(a), (__f32x4)(b), (__f32x4)(c)))
#endif
#define W_KERNELS_NAME "wasm simd128 + relaxed madd"
#else
#define VFMA(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#define W_KERNELS_NAME "wasm simd128"
#endif
#define VADD(a, b) wasm_f32x4_add(a, b)
#define VREDUCE(v) w_reduce(v)
#define VLOADH(p) w_loadh(p)
#define VLOADB(p) w_loadb(p)
#define KF16_CHUNKED 1
#define KTRANSPOSE8 w_transpose8
#define KROWS 2 /* no FMA: 3 x 4 accumulators spill in V8 (see kernels.inc) */
#ifndef KXWT_WIDE
#define KXWT_WIDE 8 /* the unembedding row: 8 W rows in flight (see kernels.inc) */
#endif
#include "kernels.inc"
#undef K
#undef KATTR
#undef VEC
#undef VL
#undef VZERO
#undef VSET1
#undef VBCAST
#undef VLOAD
#undef VSTORE
#undef VFMA
#undef VADD
#undef VREDUCE
#undef VLOADH
#undef VLOADB
#undef KF16_CHUNKED
#undef KTRANSPOSE8
#undef KROWS
#undef KXWT_WIDE
#endif

/* ------------------------------------------------ selection */

struct kernels {
    const char *name;
    void (*xwp_panels)(float *, const float *, const void *, enum relp_dtype, const float *, int, int, int, int, int,
                       int, int);
    void (*xwtp_rows)(float *, const float *, const void *, enum relp_dtype, int, int, int, int, int, float *);
    void (*xw_cols)(float *, const float *, const void *, enum relp_dtype, const float *, int, int, int, int, int);
    void (*xwt_rows)(float *, const float *, const void *, enum relp_dtype, int, int, int, int, int);
    float (*dot)(const float *, const float *, int);
    void (*axpy)(float *, float, const float *, int);
    void (*dots)(float *, const float *, const float *, size_t, int, int, float);
    void (*wsum)(float *, const float *, const float *, size_t, int, int);
};

static const struct kernels k_generic = {"scalar (portable 4-lane C)", xwp_panels_generic, xwtp_rows_generic, xw_cols_generic, xwt_rows_generic, dot_generic,
                                         axpy_generic, dots_generic, wsum_generic};
#ifdef RELP_HAVE_AVX2
static const struct kernels k_avx2 = {"avx2+fma+f16c", xwp_panels_avx2, xwtp_rows_avx2, xw_cols_avx2, xwt_rows_avx2, dot_avx2, axpy_avx2, dots_avx2, wsum_avx2};
static int cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
    if (!fma || !f16c || !osxsave) return 0;
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6) return 0; /* the OS saves ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}
#endif
#ifdef RELP_HAVE_WASM_SIMD
static const struct kernels k_wasm = {W_KERNELS_NAME, xwp_panels_wasm, xwtp_rows_wasm, xw_cols_wasm, xwt_rows_wasm, dot_wasm, axpy_wasm,
                                      dots_wasm, wsum_wasm};
#endif

static const struct kernels *kern = NULL;
static inline const struct kernels *K_(void);

const char *relp__ops_select(int force_scalar) {
    const struct kernels *k = &k_generic; /* decided first, stored once: worker threads may read kern meanwhile */
    if (!force_scalar) {
#ifdef RELP_HAVE_AVX2
        if (cpu_has_avx2()) k = &k_avx2;
#endif
#ifdef RELP_HAVE_WASM_SIMD
        k = &k_wasm;
#endif
    }
    kern = k;
    return k->name;
}

const char *relp__ops_name(void) { return K_()->name; }

static inline const struct kernels *K_(void) {
    if (!kern) relp__ops_select(0);
    return kern;
}


/* ------------------------------------------------ matmuls */

struct mm_job {
    float *out;
    const float *x;
    const void *W;
    enum relp_dtype wdt;
    const float *bias;
    int N, K, O;
    int grain; /* split boundaries are multiples of this */
};

static void split(int O, int grain, int i, int n, int *o0, int *o1) {
    int blocks = (O + grain - 1) / grain;
    int b0 = (int)((long long)blocks * i / n), b1 = (int)((long long)blocks * (i + 1) / n);
    *o0 = b0 * grain;
    *o1 = b1 * grain < O ? b1 * grain : O;
}

static void xw_task(void *arg, int i, int n) {
    struct mm_job *j = arg;
    int o0, o1;
    split(j->O, j->grain, i, n, &o0, &o1);
    if (o0 < o1) K_()->xw_cols(j->out, j->x, j->W, j->wdt, j->bias, j->N, j->K, j->O, o0, o1);
}

static void xwt_task(void *arg, int i, int n) {
    struct mm_job *j = arg;
    int o0, o1;
    split(j->O, j->grain, i, n, &o0, &o1);
    if (o0 < o1) K_()->xwt_rows(j->out, j->x, j->W, j->wdt, j->N, j->K, j->O, o0, o1);
}

void matmul_xw(struct relp_pool *pool, float *out, const float *x, const void *W, enum relp_dtype wdt,
               const float *bias, int N, int K, int O) {
    if (N <= 0) return;
    struct mm_job j = {out, x, W, wdt, bias, N, K, O, 16};
    relp__pool_run(pool, xw_task, &j);
}

void matmul_xwt(struct relp_pool *pool, float *out, const float *x, const void *W, enum relp_dtype wdt, int N, int K,
                int O) {
    if (N <= 0) return;
    struct mm_job j = {out, x, W, wdt, NULL, N, K, O, 4};
    relp__pool_run(pool, xwt_task, &j);
}

struct mmp_job {
    float *out, *scratch;
    const float *x;
    const void *P;
    enum relp_dtype wdt;
    const float *bias;
    int N, K, O, Kp, k0;
};

static void xwp_task(void *arg, int i, int n) {
    struct mmp_job *j = arg;
    int panels = (j->O + RELP_PANEL - 1) / RELP_PANEL;
    int p0 = (int)((long long)panels * i / n), p1 = (int)((long long)panels * (i + 1) / n);
    if (p0 < p1) K_()->xwp_panels(j->out, j->x, j->P, j->wdt, j->bias, j->N, j->K, j->O, j->Kp, j->k0, p0, p1);
}

static void xwtp_task(void *arg, int i, int n) {
    struct mmp_job *j = arg;
    int k0, k1;
    split(j->Kp, RELP_PANEL, i, n, &k0, &k1);
    if (k0 < k1)
        K_()->xwtp_rows(j->out, j->x, j->P, j->wdt, j->N, j->O, j->Kp, k0, k1, j->scratch + (size_t)i * RELP_PANEL * RELP_XWT_CHUNK);
}

void matmul_xw_packed(struct relp_pool *pool, float *out, const float *x, const void *P, enum relp_dtype wdt,
                      const float *bias, int N, int K, int O, int Kp, int k0) {
    if (N <= 0) return;
    struct mmp_job j = {out, NULL, x, P, wdt, bias, N, K, O, Kp, k0};
    relp__pool_run(pool, xwp_task, &j);
}

void matmul_xwt_packed(struct relp_pool *pool, float *out, float *scratch, const float *x, const void *P,
                       enum relp_dtype wdt, int N, int O, int K) {
    if (N <= 0) return;
    struct mmp_job j = {out, scratch, x, P, wdt, NULL, N, K, O, K, 0};
    relp__pool_run(pool, xwtp_task, &j);
}

size_t relp__packed_count(int K, int O) {
    return (size_t)K * (size_t)((O + RELP_PANEL - 1) / RELP_PANEL) * RELP_PANEL;
}

static inline size_t view_at(const struct relp_view *v, int64_t k, int64_t j) {
    int64_t c = v->blk ? (j / v->blk) * v->stride + v->off + j % v->blk : j;
    return (size_t)(k * v->rs + c * v->cs);
}

void relp__pack_block(void *dst, enum relp_dtype dd, int K, int O, int c0, int nc, const struct relp_view *v) {
    const size_t esz = dd == RELP_DTYPE_F32 ? 4 : 2;
    const int end = c0 + nc == O ? (O + RELP_PANEL - 1) / RELP_PANEL * RELP_PANEL : c0 + nc; /* with the padding */
    const int plain = v->dtype == dd && v->cs == 1 && !v->blk;
    for (int ob = c0 / RELP_PANEL; ob * RELP_PANEL < end; ob++)
        for (int k = 0; k < K; k++) {
            const int o0 = ob * RELP_PANEL;
            if (plain && o0 >= c0 && o0 + RELP_PANEL <= c0 + nc) { /* a whole panel row: one copy */
                memcpy((char *)dst + ((size_t)ob * K + k) * RELP_PANEL * esz,
                       (const char *)v->data + view_at(v, k, o0 - c0) * esz, RELP_PANEL * esz);
                continue;
            }
            for (int j = 0; j < RELP_PANEL; j++) {
                int o = o0 + j;
                if (o < c0 || o >= end) continue;
                float f = o < c0 + nc ? relp__load_elem(v->data, v->dtype, view_at(v, k, o - c0)) : 0.0f;
                relp__store_elem(dst, dd, ((size_t)ob * K + k) * RELP_PANEL + j, f);
            }
        }
}

void relp__pack_block_t(void *dst, enum relp_dtype dd, int K, int O, int c0, int nc, const struct relp_view *v) {
    /* the packing of M^T (O rows, K columns): P[kb][o][j] = M[kb*RELP_PANEL + j][o], zero-padded */
    const size_t esz = dd == RELP_DTYPE_F32 ? 4 : 2;
    const int panels = (K + RELP_PANEL - 1) / RELP_PANEL;
    const int plain = v->dtype == dd && v->rs == 1 && !v->blk;
    for (int kb = 0; kb < panels; kb++)
        for (int o = c0; o < c0 + nc; o++) {
            if (plain && (kb + 1) * RELP_PANEL <= K) { /* 16 consecutive k of one column: one copy */
                memcpy((char *)dst + ((size_t)kb * O + o) * RELP_PANEL * esz,
                       (const char *)v->data + view_at(v, (int64_t)kb * RELP_PANEL, o - c0) * esz, RELP_PANEL * esz);
                continue;
            }
            for (int j = 0; j < RELP_PANEL; j++) {
                int k = kb * RELP_PANEL + j;
                float f = k < K ? relp__load_elem(v->data, v->dtype, view_at(v, k, o - c0)) : 0.0f;
                relp__store_elem(dst, dd, ((size_t)kb * O + o) * RELP_PANEL + j, f);
            }
        }
}

void relp__copy_block(void *dst, enum relp_dtype dd, int64_t rows, int64_t cols, int64_t c0, int64_t nc,
                      const struct relp_view *v) {
    const size_t esz = dd == RELP_DTYPE_F32 ? 4 : 2;
    const int plain = v->dtype == dd && v->cs == 1 && !v->blk;
    for (int64_t r = 0; r < rows; r++) {
        if (plain) {
            memcpy((char *)dst + (size_t)(r * cols + c0) * esz, (const char *)v->data + view_at(v, r, 0) * esz,
                   (size_t)nc * esz);
            continue;
        }
        for (int64_t j = 0; j < nc; j++)
            relp__store_elem(dst, dd, (size_t)(r * cols + c0 + j), relp__load_elem(v->data, v->dtype, view_at(v, r, j)));
    }
}

void relp__pack(void *dst, enum relp_dtype dd, const void *src, enum relp_dtype sd, int K, int O) {
    struct relp_view v = {src, sd, O, 1, 0, 0, 0};
    relp__pack_block(dst, dd, K, O, 0, O, &v);
}

void relp__pack_transposed(void *dst, enum relp_dtype dd, const void *src, enum relp_dtype sd, int K, int O) {
    struct relp_view v = {src, sd, O, 1, 0, 0, 0};
    relp__pack_block_t(dst, dd, K, O, 0, O, &v);
}


void matmul_xw_naive(float *out, const float *x, const void *W, enum relp_dtype wdt, const float *bias, int N, int K,
                     int O) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)n * K + k] * relp__load_elem(W, wdt, (size_t)k * O + o);
            out[(size_t)n * O + o] = (float)s;
        }
}

void matmul_xwt_naive(float *out, const float *x, const void *W, enum relp_dtype wdt, int N, int K, int O) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)n * K + k] * relp__load_elem(W, wdt, (size_t)o * K + k);
            out[(size_t)n * O + o] = (float)s;
        }
}

/* ------------------------------------------------ LayerNorm */

void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *g, const float *b, int N,
                       int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = xr[i] - m;
            v += d * d;
        }
        v /= (float)C;
        float r = 1.0f / sqrtf(v + eps);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (xr[i] - m) * r * g[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* LayerNorm y = g * (x - mean) * rstd + b, backward:
 *   exact:    dx = rstd * (u - mean(u) - xhat * mean(u * xhat)),  u = g * dy
 *   LN-rule:  dx = rstd * (u - mean(u))      (rstd detached, Ali et al. 2022) */
void layernorm_backward_acc(float *dx, const float *dout, const float *x, const float *mean, const float *rstd,
                            const float *g, int N, int C, int sigma_const) {
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *xr = x + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        float mu = 0.0f, mux = 0.0f;
        for (int i = 0; i < C; i++) {
            float u = g[i] * dy[i];
            mu += u;
            mux += u * (xr[i] - m) * r;
        }
        mu /= (float)C;
        mux = sigma_const ? 0.0f : mux / (float)C;
        float *d = dx + (size_t)n * C;
        for (int i = 0; i < C; i++) {
            float xhat = (xr[i] - m) * r;
            d[i] += r * (g[i] * dy[i] - mu - xhat * mux);
        }
    }
}

/* ------------------------------------------------ RMSNorm */

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *g, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) v += xr[i] * xr[i];
        float r = 1.0f / sqrtf(v / (float)C + eps);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = xr[i] * r * g[i];
        rstd[n] = r;
    }
}

/* RMSNorm y = g * x * rstd, backward:
 *   exact:    dx = rstd * (u - xhat * mean(u * xhat)),  u = g * dy, xhat = x * rstd
 *   LN-rule:  dx = rstd * u      (rstd detached, the official code's x / scale.detach()) */
void rmsnorm_backward_acc(float *dx, const float *dout, const float *x, const float *rstd, const float *g, int N,
                          int C, int rms_const) {
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *xr = x + (size_t)n * C;
        const float r = rstd[n];
        float mux = 0.0f;
        if (!rms_const) {
            for (int i = 0; i < C; i++) mux += g[i] * dy[i] * xr[i] * r;
            mux /= (float)C;
        }
        float *d = dx + (size_t)n * C;
        for (int i = 0; i < C; i++) d[i] += r * (g[i] * dy[i] - xr[i] * r * mux);
    }
}

/* ------------------------------------------------ GELU (tanh approximation) */

/* exp(x) for f32 in plain arithmetic that compilers vectorise (a call to
 * expf in a loop stays a call per element): Cephes' expf. x = n ln2 + r,
 * |r| <= ln2 / 2, exp(r) by a degree-7 polynomial, times 2^n built from its
 * bits. Within 2 ulp of expf over [-87, 88]; x is clamped to
 * [-87.3, 88.3] (the result stays a normal number, 1.2e-38 to 2.2e38), and
 * a NaN stays NaN. Every build evaluates it in the same order (no
 * contraction: -std=c11), so native and WebAssembly agree bit for bit. */
static inline float exp_fast(float x0) {
    float x = x0 > -87.3f ? x0 : -87.3f; /* NaN goes to -87.3 here (no undefined int conversion) ... */
    x = x < 88.3f ? x : 88.3f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x0 == x0 ? p * scale : x0; /* ... and comes back out here */
}

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

/* gelu_new(x) = 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3). Since
 * 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)) = s, gelu(x) = x s: one exp
 * instead of a tanh. */
static inline float gelu_s(float x) {
    float u = GELU_C * (x + 0.044715f * x * x * x);
    return 1.0f / (1.0f + exp_fast(-2.0f * u));
}

void gelu_forward(float *out, const float *x, int n) {
    for (int i = 0; i < n; i++) out[i] = x[i] * gelu_s(x[i]);
}

/* exact:    gelu'(x) = s + x * 2 s (1 - s) * c (1 + 3 * 0.044715 x^2)
 * identity: gelu(x) / stab(x), stab(x) = x + 1e-6 (sign(x) + [x == 0]) - the
 *           official RelP code's ModifiedAct, so relevance passes unchanged. */
void gelu_backward(float *dx, const float *dout, const float *x, int n, int identity) {
    if (identity) /* two loops, each without a branch: vectorised */
        for (int i = 0; i < n; i++) {
            float v = x[i], stab = v + (v < 0.0f ? -1e-6f : 1e-6f); /* sign(v) + [v == 0] */
            dx[i] = dout[i] * ((v * gelu_s(v)) / stab);
        }
    else
        for (int i = 0; i < n; i++) {
            float v = x[i], s = gelu_s(v);
            dx[i] = dout[i] * (s + v * 2.0f * s * (1.0f - s) * GELU_C * (1.0f + 3.0f * 0.044715f * v * v));
        }
}

/* ------------------------------------------------ GELU (exact), SiLU, gated products */

static inline float act_value(float x, int kind) {
    if (kind == ACT_GELU_TANH) return x * gelu_s(x);
    if (kind == ACT_GELU) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    return x / (1.0f + exp_fast(-x));
}

/* d act / dx */
static inline float act_slope(float x, int kind) {
    if (kind == ACT_GELU_TANH) {
        float s = gelu_s(x);
        return s + x * 2.0f * s * (1.0f - s) * GELU_C * (1.0f + 3.0f * 0.044715f * x * x);
    }
    if (kind == ACT_GELU) /* Phi(x) + x phi(x) */
        return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * exp_fast(-0.5f * x * x);
    float s = 1.0f / (1.0f + exp_fast(-x));
    return s * (1.0f + x * (1.0f - s));
}

/* the Identity-rule's act(x) / stab(x) */
static inline float act_ratio(float x, int kind) {
    float stab = x + 1e-6f * ((x > 0.0f) - (x < 0.0f) + (x == 0.0f));
    return act_value(x, kind) / stab;
}

void act_forward(float *out, const float *x, int n, int kind) {
    if (kind == ACT_GELU_TANH) {
        gelu_forward(out, x, n);
        return;
    }
    for (int i = 0; i < n; i++) out[i] = act_value(x[i], kind);
}

void act_backward(float *dx, const float *dout, const float *x, int n, int kind, int identity) {
    if (kind == ACT_GELU_TANH) {
        gelu_backward(dx, dout, x, n, identity);
        return;
    }
    for (int i = 0; i < n; i++) dx[i] = dout[i] * (identity ? act_ratio(x[i], kind) : act_slope(x[i], kind));
}

void glu_forward(float *out, const float *pre, int N, int I, int kind) {
    for (int n = 0; n < N; n++) {
        const float *gate = pre + (size_t)n * 2 * I, *up = gate + I;
        float *o = out + (size_t)n * I;
        for (int i = 0; i < I; i++) o[i] = act_value(gate[i], kind) * up[i];
    }
}

/* p = act(g) u:  dg = dp u act'(g) (Identity-rule: u act(g)/g),  du = dp act(g);  Half-rule: both x 1/2 */
void glu_backward(float *dpre, const float *dout, const float *pre, int N, int I, int kind, int identity, int half) {
    const float h = half ? 0.5f : 1.0f;
    for (int n = 0; n < N; n++) {
        const float *gate = pre + (size_t)n * 2 * I, *up = gate + I, *dp = dout + (size_t)n * I;
        float *dg = dpre + (size_t)n * 2 * I, *du = dg + I;
        for (int i = 0; i < I; i++) {
            const float d = h * dp[i], x = gate[i];
            dg[i] = d * up[i] * (identity ? act_ratio(x, kind) : act_slope(x, kind));
            du[i] = d * act_value(x, kind);
        }
    }
}

/* ------------------------------------------------ RoPE */

void rope_apply(float *x, int B, int T, int t0, int stride, int heads, int HS, int ROT, const float *cos,
                const float *sin, int inverse) {
    const int half = ROT / 2;
    const float sgn = inverse ? -1.0f : 1.0f;
    for (int b = 0; b < B; b++)
        for (int t = t0; t < T; t++) {
            float *row = x + ((size_t)b * T + t) * stride;
            const float *c = cos + (size_t)t * half, *s = sin + (size_t)t * half;
            for (int h = 0; h < heads; h++) {
                float *v = row + (size_t)h * HS;
                for (int i = 0; i < half; i++) {
                    const float x1 = v[i], x2 = v[i + half], si = sgn * s[i];
                    v[i] = x1 * c[i] - x2 * si;
                    v[i + half] = x2 * c[i] + x1 * si;
                }
            }
        }
}

/* ------------------------------------------------ attention */

struct attn_job {
    float *z, *att, *dqkv, *scratch;
    const float *qkv, *dz, *att_in;
    int B, T, NH, NKV, HS, t0, mode;
    const int32_t *lo, *hi; /* forward: query rows [lo[b], hi[b]) of prompt b (NULL: [t0, T)) */
};

static void attn_fwd_task(void *arg, int ti, int nt) {
    struct attn_job *j = arg;
    const int T = j->T, NH = j->NH, HS = j->HS, Q = NH * HS, group = NH / j->NKV;
    const int W = (NH + 2 * j->NKV) * HS, KV = j->NKV * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    const struct kernels *kk = K_();
    for (int bh = ti; bh < j->B * NH; bh += nt) {
        int b = bh / NH, h = bh % NH, g = h / group;
        const float *base = j->qkv + (size_t)b * T * W;
        float *att = j->att + (size_t)bh * T * T;
        const int i0 = j->lo ? j->lo[b] : j->t0, i1 = j->hi ? j->hi[b] : T;
        for (int i = i0; i < i1; i++) {
            const float *q = base + (size_t)i * W + h * HS;
            float *row = att + (size_t)i * T;
            kk->dots(row, q, base + Q + g * HS, W, i + 1, HS, scale);
            float mx = -INFINITY;
            for (int t = 0; t <= i; t++) mx = row[t] > mx ? row[t] : mx;
            for (int t = 0; t <= i; t++) row[t] = exp_fast(row[t] - mx); /* vectorised */
            float sum = 0.0f;
            for (int t = 0; t <= i; t++) sum += row[t];
            float inv = 1.0f / sum;
            for (int t = 0; t <= i; t++) row[t] *= inv;
            for (int t = i + 1; t < T; t++) row[t] = 0.0f;
            kk->wsum(j->z + ((size_t)b * T + i) * Q + h * HS, row, base + Q + KV + g * HS, W, i + 1, HS);
        }
    }
}

void attention_forward(struct relp_pool *pool, float *z, float *att, const float *qkv, int B, int T, int NH, int NKV,
                       int HS, int t0) {
    struct attn_job j = {z, att, NULL, NULL, qkv, NULL, NULL, B, T, NH, NKV, HS, t0, 0, NULL, NULL};
    relp__pool_run(pool, attn_fwd_task, &j);
}

void attention_forward_rows(struct relp_pool *pool, float *z, float *att, const float *qkv, int B, int T, int NH,
                            int NKV, int HS, const int32_t *lo, const int32_t *hi) {
    struct attn_job j = {z, att, NULL, NULL, qkv, NULL, NULL, B, T, NH, NKV, HS, 0, 0, lo, hi};
    relp__pool_run(pool, attn_fwd_task, &j);
}

/* z_i = sum_j A_ij v_j, A_i = softmax(q_i . k_j / sqrt(HS)), backward:
 *   dv_j = sum_i A_ij dz_i                 (x 1/2 under AttnLRP)
 *   dA_ij = dz_i . v_j;  ds_ij = A_ij (dA_ij - sum_j' A_ij' dA_ij')
 *   dq_i = sum_j ds_ij k_j / sqrt(HS);  dk_j = sum_i ds_ij q_i / sqrt(HS)
 *                                          (x 1/4 under AttnLRP, 0 when frozen)
 * A task owns one (prompt, k/v head): its query heads add into the shared
 * dk and dv in head order, so no two threads write the same values. */
static void attn_bwd_task(void *arg, int ti, int nt) {
    struct attn_job *j = arg;
    const int T = j->T, NH = j->NH, NKV = j->NKV, HS = j->HS, Q = NH * HS, KV = NKV * HS, group = NH / NKV;
    const int W = Q + 2 * KV;
    const float scale = 1.0f / sqrtf((float)HS);
    const float v_scale = j->mode == RELP_ATTN_ATTNLRP ? 0.5f : 1.0f;
    const float qk_scale = j->mode == RELP_ATTN_ATTNLRP ? 0.25f * scale : scale;
    const struct kernels *kk = K_();
    float *dA = j->scratch + (size_t)ti * T;
    for (int bg = ti; bg < j->B * NKV; bg += nt) {
        const int b = bg / NKV, g = bg % NKV;
        const float *base = j->qkv + (size_t)b * T * W;
        float *dbase = j->dqkv + (size_t)b * T * W;
        const int ko = Q + g * HS, vo = Q + KV + g * HS;
        for (int t = 0; t < T; t++) {
            memset(dbase + (size_t)t * W + ko, 0, (size_t)HS * 4);
            memset(dbase + (size_t)t * W + vo, 0, (size_t)HS * 4);
        }
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *att = j->att_in + ((size_t)b * NH + h) * T * T;
            for (int t = 0; t < T; t++) memset(dbase + (size_t)t * W + h * HS, 0, (size_t)HS * 4);
            for (int i = 0; i < T; i++) {
                const float *dz = j->dz + ((size_t)b * T + i) * Q + h * HS;
                const float *row = att + (size_t)i * T;
                for (int t = 0; t <= i; t++) kk->axpy(dbase + (size_t)t * W + vo, v_scale * row[t], dz, HS);
                if (j->mode == RELP_ATTN_FROZEN) continue;
                kk->dots(dA, dz, base + vo, W, i + 1, HS, 1.0f);
                float dot = 0.0f;
                for (int t = 0; t <= i; t++) dot += row[t] * dA[t];
                float *ds = dA; /* in place */
                for (int t = 0; t <= i; t++) ds[t] = row[t] * (dA[t] - dot) * qk_scale;
                kk->wsum(dbase + (size_t)i * W + h * HS, ds, base + ko, W, i + 1, HS); /* dq_i */
                const float *q = base + (size_t)i * W + h * HS;
                for (int t = 0; t <= i; t++) kk->axpy(dbase + (size_t)t * W + ko, ds[t], q, HS);
            }
        }
    }
}

void attention_backward(struct relp_pool *pool, float *dqkv, float *scratch, const float *dz, const float *qkv,
                        const float *att, int B, int T, int NH, int NKV, int HS, int mode) {
    struct attn_job j = {NULL, NULL, dqkv, scratch, qkv, dz, att, B, T, NH, NKV, HS, 0, mode, NULL, NULL};
    relp__pool_run(pool, attn_bwd_task, &j);
}
