/* threads.c - fork-join pool on pthreads (see threads.h). */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include "threads.h"

#include <stdlib.h>

#ifdef RELP_THREADS
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Waiting spins a little before it sleeps: a forward pass hands the pool a
 * product every few hundred microseconds, and waking a sleeping thread costs
 * 70-90 us on the VMs we measured (bench/README.md), a third of a small
 * product. The spin is bounded, so an idle or oversubscribed pool (MPI ranks
 * on shared cores) still sleeps. State only changes under the mutex, and
 * sleepers re-check it there, so no wake-up is lost. */
#define RELP_SPIN_NS 100000 /* 100 us */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* spins while cond holds, for at most RELP_SPIN_NS (a pause lasts from 10 to
 * 150 cycles depending on the CPU, so the bound is in time) */
#define SPIN_WHILE(cond)                                                                                               \
    do {                                                                                                             \
        uint64_t end_ = 0;                                                                                           \
        for (unsigned i_ = 0; (cond); i_++) {                                                                        \
            cpu_relax();                                                                                             \
            if ((i_ & 63u) == 0) {                                                                                   \
                uint64_t t_ = now_ns();                                                                              \
                if (!end_) end_ = t_ + RELP_SPIN_NS;                                                                 \
                else if (t_ > end_) break;                                                                           \
            }                                                                                                        \
        }                                                                                                            \
    } while (0)

struct relp_pool {
    int n;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_uint generation;
    atomic_int pending;
    atomic_int quit;
    void (*fn)(void *, int, int);
    void *arg;
};

struct worker_arg {
    struct relp_pool *pool;
    int index;
};

static void *worker(void *p) {
    struct worker_arg *wa = p;
    struct relp_pool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        SPIN_WHILE(atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&pool->quit, memory_order_relaxed));
        pthread_mutex_lock(&pool->mu);
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->quit))
            pthread_cond_wait(&pool->start, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
        if (atomic_load(&pool->quit)) return NULL;
        seen = atomic_load(&pool->generation);
        pool->fn(pool->arg, index, pool->n);
        if (atomic_fetch_sub(&pool->pending, 1) == 1) {
            pthread_mutex_lock(&pool->mu); /* the caller checks pending under the mutex before it sleeps */
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

struct relp_pool *relp__pool_init(int n_threads) {
    if (n_threads <= 1) return NULL;
    struct relp_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n_threads;
    pool->tids = calloc((size_t)n_threads, sizeof *pool->tids);
    if (!pool->tids) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0u);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->quit, 0);
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->pool = pool;
            wa->index = i;
        }
        if (!wa || pthread_create(&pool->tids[i], NULL, worker, wa)) {
            free(wa);
            pool->n = i; /* run with the threads we got */
            break;
        }
    }
    if (pool->n <= 1) {
        relp__pool_free(pool);
        return NULL;
    }
    return pool;
}

void relp__pool_free(struct relp_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->quit, 1);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->tids[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->tids);
    free(pool);
}

int relp__pool_size(const struct relp_pool *pool) { return pool ? pool->n : 1; }

void relp__pool_run(struct relp_pool *pool, void (*fn)(void *, int, int), void *arg) {
    if (!pool) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn; /* published by the release of generation below */
    pool->arg = arg;
    atomic_store(&pool->pending, pool->n - 1);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1u, memory_order_release);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    SPIN_WHILE(atomic_load_explicit(&pool->pending, memory_order_acquire) > 0);
    pthread_mutex_lock(&pool->mu);
    while (atomic_load(&pool->pending) > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

#else /* no threads */

struct relp_pool { int n; };
struct relp_pool *relp__pool_init(int n_threads) { (void)n_threads; return NULL; }
void relp__pool_free(struct relp_pool *pool) { (void)pool; }
int relp__pool_size(const struct relp_pool *pool) { (void)pool; return 1; }
void relp__pool_run(struct relp_pool *pool, void (*fn)(void *, int, int), void *arg) {
    (void)pool;
    fn(arg, 0, 1);
}
#endif
