/* threads.h - a tiny fork-join pool: run fn(arg, i, n) for i in [0, n) on
 * n threads (the caller is thread 0). Without RELP_THREADS (wasm, or a build
 * without pthreads) the pool runs everything on the caller. Work is split by
 * index only, so results never depend on scheduling. */
#ifndef RELP_THREADS_H
#define RELP_THREADS_H

struct relp_pool;

/* Returns NULL if n_threads <= 1 or threads are unavailable: relp__pool_run
 * accepts a NULL pool and runs inline. */
struct relp_pool *relp__pool_init(int n_threads);
void relp__pool_free(struct relp_pool *pool);
int relp__pool_size(const struct relp_pool *pool);
/* Calls fn(arg, i, n) for every i in [0, n) where n = pool size; returns
 * when all have finished. */
void relp__pool_run(struct relp_pool *pool, void (*fn)(void *arg, int i, int n), void *arg);

#endif
