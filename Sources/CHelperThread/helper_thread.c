// The helper thread behind rah_parallel_rows, started on first use. A product is cut into chunks of
// output rows that the caller and the helper claim from a shared counter; which thread computes a row
// does not change its value, so results stay bitwise fixed while a busy machine (the helper
// descheduled) costs no waiting: the caller then claims every chunk itself. The helper spins for a
// while after each product (a decode step runs hundreds of them microseconds apart), then sleeps on a
// condition variable.
//
// Hand-over: the caller writes the job, opens it and bumps `posted`; the helper raises `busy`, checks
// that the job is still open, claims chunks, lowers `busy`. The caller, out of chunks, closes the job
// and waits for `busy` to fall to 0 before the job's memory is reused. (All atomics are seq_cst: the
// close/busy pair is a Dekker handshake.)
#include "helper_thread.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

typedef struct {
    rah_rows_fn rows;
    const void *context;
    int n, chunk_rows, chunks;
} job;

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static bool pool_started;
static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER;  // one caller uses the helper at a time
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static job pool_job;
static atomic_int pool_next, pool_busy;
static atomic_bool pool_open, pool_sleeping;
static atomic_uint pool_posted;

static const double spin_seconds = 1e-3;

/// Fewer rows than this in a chunk cost more in hand-over than they save.
static const int min_chunk_rows = 16, max_chunks = 16;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static void claim_chunks(void) {
    for (int c; (c = atomic_fetch_add(&pool_next, 1)) < pool_job.chunks;) {
        const int first = c * pool_job.chunk_rows;
        const int end = first + pool_job.chunk_rows < pool_job.n ? first + pool_job.chunk_rows : pool_job.n;
        pool_job.rows(pool_job.context, first, end);
    }
}

static void *helper_main(void *unused) {
    (void)unused;
    unsigned seen = 0;
    for (;;) {
        unsigned posted;
        const double start = now_seconds();
        for (unsigned spins = 1; (posted = atomic_load(&pool_posted)) == seen; spins++) {
            relax();
            if (spins % 256 == 0 && now_seconds() - start > spin_seconds) {
                pthread_mutex_lock(&pool_mutex);
                atomic_store(&pool_sleeping, true);
                while ((posted = atomic_load(&pool_posted)) == seen) pthread_cond_wait(&pool_wake, &pool_mutex);
                atomic_store(&pool_sleeping, false);
                pthread_mutex_unlock(&pool_mutex);
                break;
            }
        }
        seen = posted;
        atomic_fetch_add(&pool_busy, 1);
        if (atomic_load(&pool_open)) claim_chunks();
        atomic_fetch_sub(&pool_busy, 1);
    }
    return NULL;
}

static void start_pool(void) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pool_started = pthread_create(&thread, &attr, helper_main, NULL) == 0;
    pthread_attr_destroy(&attr);
}

void rah_parallel_rows(rah_rows_fn rows, const void *context, int n, int granule, int threads) {
    if (threads < 2 || n < 2 * min_chunk_rows) { rows(context, 0, n); return; }
    const int chunks = n / min_chunk_rows < max_chunks ? n / min_chunk_rows : max_chunks;
    rah_parallel_chunks(rows, context, n, ((n + chunks - 1) / chunks + granule - 1) / granule * granule, threads);
}

void rah_parallel_chunks(rah_rows_fn rows, const void *context, int n, int chunk_rows, int threads) {
    if (threads < 2 || chunk_rows < 1 || n <= chunk_rows) { rows(context, 0, n); return; }
    pthread_once(&pool_once, start_pool);
    if (!pool_started || pthread_mutex_trylock(&pool_owner) != 0) { rows(context, 0, n); return; }
    pool_job = (job){rows, context, n, chunk_rows, (n + chunk_rows - 1) / chunk_rows};
    atomic_store(&pool_next, 0);
    atomic_store(&pool_open, true);
    atomic_fetch_add(&pool_posted, 1);
    if (atomic_load(&pool_sleeping)) {
        pthread_mutex_lock(&pool_mutex);
        pthread_cond_signal(&pool_wake);
        pthread_mutex_unlock(&pool_mutex);
    }
    claim_chunks();
    atomic_store(&pool_open, false);
    for (unsigned spins = 1; atomic_load(&pool_busy) != 0; spins++) {
        if (spins % 1024 == 0) sched_yield(); else relax();
    }
    pthread_mutex_unlock(&pool_owner);
}
