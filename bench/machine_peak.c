// The machine's yardsticks for bench/ (compiled on the fly by common.mjs machinePeak()):
//   machine_peak fma THREADS MS [cpu]   → GFLOP/s of independent float32 FMA chains (AVX-512 when
//                                         the compiler targets it, else AVX2), a multiply-add = 2 FLOP;
//                                         with `cpu`, per second of the threads' own CPU time (on a
//                                         shared machine: what a core gives while it runs this)
//   machine_peak copy THREADS BYTES REPS → GB/s of a STREAM-like copy of BYTES per thread-shared
//                                         array (read + write counted: 2·BYTES per copy), best of REPS
// Each prints one number. Measured in the same run as the kernels they judge, so that a loaded
// machine slows both alike.
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// ---- FMA peak: 16 independent accumulators (more than the FMA latency × units) ----
typedef struct {
  double seconds;
  long iterations;
  float sink;
  double cpu_seconds;  // this thread's CPU time while it ran the chains
} FmaJob;

static double thread_cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

#if defined(__AVX512F__)
#define VEC __m512
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
#define SUM(v) _mm512_reduce_add_ps(v)
#else
#define VEC __m256
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
static float SUM(__m256 v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

static void* fma_thread(void* arg) {
  FmaJob* job = (FmaJob*)arg;
  VEC acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = SET1(1.0f + i * 1e-3f);
  const VEC a = SET1(0.999999f), b = SET1(1e-7f);
  const double end = now() + job->seconds;
  const double cpu_start = thread_cpu_now();
  long iterations = 0;
  while (now() < end) {
    // Unrolled, so that the 16 accumulators live in registers: a loop over acc[] in memory is
    // bound by store-to-load latency (a quarter of the FMA peak on Sapphire Rapids).
    for (int r = 0; r < 1000; ++r) {
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) acc[i] = FMA(acc[i], a, b);
    }
    iterations += 1000;
  }
  float s = 0;
  for (int i = 0; i < 16; ++i) s += SUM(acc[i]);
  job->sink = s;
  job->iterations = iterations;
  job->cpu_seconds = thread_cpu_now() - cpu_start;
  return NULL;
}

// ---- copy bandwidth: threads started once, each copying its share; a barrier before and after
// each repetition, timed by thread 0 ----
typedef struct {
  float* dst;
  const float* src;
  size_t count;
  int reps, first;
  pthread_barrier_t* barrier;
  double best;
} CopyJob;

static void* copy_thread(void* arg) {
  CopyJob* job = (CopyJob*)arg;
  job->best = 1e30;
  for (int r = 0; r < job->reps; ++r) {
    pthread_barrier_wait(job->barrier);
    const double start = now();
    memcpy(job->dst, job->src, job->count * sizeof(float));
    pthread_barrier_wait(job->barrier);
    const double seconds = now() - start;
    if (job->first && seconds < job->best) job->best = seconds;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const int threads = atoi(argv[2]);
  pthread_t ids[64];
  if (threads < 1 || threads > 64) return 2;
  if (strcmp(argv[1], "fma") == 0) {
    FmaJob jobs[64];
    const double start = now();
    for (int t = 0; t < threads; ++t) {
      jobs[t].seconds = atof(argv[3]) / 1000.0;
      pthread_create(&ids[t], NULL, fma_thread, &jobs[t]);
    }
    const int cpu_clock = argc >= 5 && strcmp(argv[4], "cpu") == 0;
    double flops = 0, per_cpu_second = 0;
    for (int t = 0; t < threads; ++t) {
      pthread_join(ids[t], NULL);
      const double own = 2.0 * LANES * 16.0 * (double)jobs[t].iterations;
      flops += own;
      per_cpu_second += own / jobs[t].cpu_seconds;
    }
    printf("%.1f\n", (cpu_clock ? per_cpu_second : flops / (now() - start)) / 1e9);
    return 0;
  }
  if (strcmp(argv[1], "copy") == 0 && argc >= 5) {
    const size_t count = (size_t)atoll(argv[3]) / sizeof(float);
    const int reps = atoi(argv[4]);
    float* src = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    float* dst = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < count; ++i) src[i] = dst[i] = (float)i;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    CopyJob jobs[64];
    for (int t = 0; t < threads; ++t) {
      const size_t begin = count * t / threads, end = count * (t + 1) / threads;
      jobs[t] = (CopyJob){dst + begin, src + begin, end - begin, reps, t == 0, &barrier, 0};
      pthread_create(&ids[t], NULL, copy_thread, &jobs[t]);
    }
    for (int t = 0; t < threads; ++t) pthread_join(ids[t], NULL);
    printf("%.1f\n", 2.0 * count * sizeof(float) / jobs[0].best / 1e9);
    free(src);
    free(dst);
    return 0;
  }
  return 2;
}
