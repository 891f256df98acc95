/* machine_limits.c - what this machine can do at most, measured in the same
 * benchmark run as relp: the f32 multiply-add peak (GFLOP/s) and the
 * memory read bandwidth (GB/s), on 1 thread and on N. bench/report.py turns
 * them into floors under each forward pass: a pass cannot take less than
 * its FLOPs at peak, nor less than its weight bytes at full bandwidth.
 *
 *   machine_limits [N]      prints one JSON line
 *
 * Peak: 12 independent chains of 8-wide FMAs (AVX2 + FMA when the CPU has
 * them, else 4-wide scalar C), in registers. Bandwidth: a 512 MiB array read
 * once per run with 4 independent sums, split across the threads; best of 3. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define CHAINS 12
static const long FMA_ITERS = 100000000L; /* per thread: 12 * 8 * 2 * 1e8 = 19.2 GFLOP */
static volatile float sink;
static int use_avx2;

#ifdef HAVE_X86
static int cpu_has_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 12) & 1) || !((c >> 27) & 1)) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long n) {
    __m256 acc[CHAINS], m = _mm256_set1_ps(1.0000001f), add = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
#pragma GCC unroll 4
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, add);
    }
    float s = 0, t[8];
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(t, acc[i]);
        s += t[0];
    }
    return s;
}

__attribute__((target("avx2"))) static float sum_avx2(const float *a, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(a + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(a + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(a + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(a + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return t[0];
}
#endif

static float fma_scalar(long n) { /* 4-wide: what the portable kernels do */
    float acc[CHAINS][4];
    for (int i = 0; i < CHAINS; i++)
        for (int l = 0; l < 4; l++) acc[i][l] = (float)i;
    for (long k = 0; k < n; k++)
        for (int i = 0; i < CHAINS; i++)
            for (int l = 0; l < 4; l++) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
    return acc[0][0] + acc[CHAINS - 1][3];
}

static float sum_scalar(const float *a, size_t n) {
    float s[4] = {0, 0, 0, 0};
    for (size_t i = 0; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) s[l] += a[i + l];
    return s[0] + s[1] + s[2] + s[3];
}

struct job {
    const float *a;
    size_t n;
    long iters;
};

static void *fma_thread(void *p) {
    struct job *j = p;
#ifdef HAVE_X86
    if (use_avx2) {
        sink = fma_avx2(j->iters);
        return NULL;
    }
#endif
    sink = fma_scalar(j->iters);
    return NULL;
}

static void *sum_thread(void *p) {
    struct job *j = p;
#ifdef HAVE_X86
    if (use_avx2) {
        sink = sum_avx2(j->a, j->n);
        return NULL;
    }
#endif
    sink = sum_scalar(j->a, j->n);
    return NULL;
}

/* seconds for n threads each running fn on its job */
static double run(int n, void *(*fn)(void *), struct job *jobs) {
    pthread_t tid[64];
    double t0 = now_s();
    for (int i = 1; i < n; i++)
        if (pthread_create(&tid[i], NULL, fn, &jobs[i])) return -1;
    fn(&jobs[0]);
    for (int i = 1; i < n; i++) pthread_join(tid[i], NULL);
    return now_s() - t0;
}

int main(int argc, char **argv) {
    int nmax = argc > 1 ? atoi(argv[1]) : 2;
    if (nmax < 1 || nmax > 64) {
        fprintf(stderr, "machine_limits: the thread count must be in [1, 64], got '%s'\n", argv[1]);
        return 2;
    }
#ifdef HAVE_X86
    use_avx2 = cpu_has_avx2_fma();
#endif
    const int lanes = use_avx2 ? 8 : 4;
    const long iters = use_avx2 ? FMA_ITERS : FMA_ITERS / 4;
    const size_t n = (size_t)512 << 20 >> 2; /* 512 MiB of floats */
    float *a = malloc(n * sizeof *a);
    if (!a) {
        fprintf(stderr, "machine_limits: cannot allocate 512 MiB\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = 1.0f; /* touch every page before timing */
    struct job jobs[64];
    printf("{\"kernels\":\"%s\"", use_avx2 ? "avx2+fma" : "scalar 4-lane");
    const int counts[2] = {1, nmax};
    for (int c = 0; c < (nmax > 1 ? 2 : 1); c++) {
        int th = counts[c];
        double best_f = 1e30, best_b = 1e30;
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < th; i++) jobs[i] = (struct job){NULL, 0, iters};
            double t = run(th, fma_thread, jobs);
            if (t > 0 && t < best_f) best_f = t;
            for (int i = 0; i < th; i++) jobs[i] = (struct job){a + n / (size_t)th * (size_t)i, n / (size_t)th, 0};
            t = run(th, sum_thread, jobs);
            if (t > 0 && t < best_b) best_b = t;
        }
        printf(",\"fma_gflops_%d\":%.1f,\"read_gbs_%d\":%.1f", th, th * (double)iters * CHAINS * lanes * 2 / best_f / 1e9,
               th, (double)n * sizeof *a / best_b / 1e9);
    }
    printf("}\n");
    free(a);
    return 0;
}
