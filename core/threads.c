/* threads.c - fork-join pool on pthreads (see threads.h). */
#include "threads.h"

#include <stdlib.h>

#ifdef RELP_THREADS
#include <pthread.h>

struct relp_pool {
    int n;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned generation;
    int pending;
    int quit;
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
        pthread_mutex_lock(&pool->mu);
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->generation;
        void (*fn)(void *, int, int) = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        fn(arg, index, pool->n);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
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
    pool->quit = 1;
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
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
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
