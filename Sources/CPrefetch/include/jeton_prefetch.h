#ifndef JETON_PREFETCH_H
#define JETON_PREFETCH_H
// Software prefetch, which Swift cannot express (_mm_prefetch is a macro). Attention
// asks for the next KV cache block while it works on the current one: block tables
// make the address stream jump where the hardware prefetcher loses track, and without
// this two thirds of attention's time was spent waiting for the first lines of a block.

// Prefetches `bytes` bytes from p into all cache levels, one request per 64-byte line.
static inline void jeton_prefetch_range(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}
// One line into the outer caches only (prefetcht2): the logits matmul streams a matrix
// far larger than the caches and asks for the tile after next this way.
static inline void jeton_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 1); }
// `bytes` bytes into L2 only (prefetcht1): a matrix-vector product streams weights
// faster this way, since L2's miss queue holds far more requests than L1's fill buffers.
static inline void jeton_prefetch_range_l2(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 2);
}
// How the generation kernels ask for weights they read once a token: 0 non-temporally
// (prefetchnta), 1 into L2 (prefetcht1). Set once at start-up by Kernels (`CPUFeatures.
// streamPrefetch`, the policy lives there); read through the functions below, since Swift
// cannot touch a mutable C global safely.
extern int jeton_stream_into_l2;
// Relaxed atomics: the same plain moves on x86, without a formal data race when kernel threads
// read it while the start-up thread writes it.
static inline int jeton_stream_hint(void) { return __atomic_load_n(&jeton_stream_into_l2, __ATOMIC_RELAXED); }
static inline void jeton_set_stream_hint(int into_l2) { __atomic_store_n(&jeton_stream_into_l2, into_l2, __ATOMIC_RELAXED); }
// `bytes` bytes of a stream read once, the way `jeton_stream_into_l2` says. Non-temporal, four
// KiB ahead streamed Qwen 1.5B's packed weights 12-22% faster than prefetcht1 16 KiB ahead on
// Zen 5 (8 KiB ahead for one token on AVX-512 is faster still on Zen 4 at ~60 GB/s). On Intel
// Xeons (measured on Emerald Rapids; the rule takes every Intel) prefetchnta fills L1 alone and holds a fill buffer for each line until it arrives, so
// one thread read 6-10 GB/s that way against 16 GB/s with prefetcht1 or plain loads
// (Emerald Rapids): there the lines go to L2, whose miss queue is longer.
static inline void jeton_prefetch_stream(const void *p, long bytes) {
    const char *c = (const char *)p;
    if (jeton_stream_hint()) {
        for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 2);
    } else {
        for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 0);
    }
}
// How far ahead of the line read a tile read once asks for its lines (`jeton_prefetch_stream`): one
// token (on Intel up to 4), and a group of tokens. Stated once here for the AVX-512 kernels'
// `StreamAhead`, the AVX2 K-quant one token and the read probe; the measurements are in StreamAhead.
#define JETON_STREAM_ONE_TOKEN_BYTES 8192
#define JETON_STREAM_GROUP_BYTES 4096
// On Intel (the into-L2 hint) the lines of a stream for up to 4 tokens (the AVX-512 kernels; one
// token in the AVX2 K-quant kernels, which ask with `jeton_prefetch_range` line by line) are
// asked into L1 as well, this many bytes ahead of the line read (the into-L2 request went out
// 8 KiB ahead, so the line is usually in L2 by then). Without it the kernels' loads found their
// lines in L2 only, each such wait holding instructions (the later lines' requests among them)
// behind it: Qwen2.5-Coder-1.5B's tg128 read 74-83% of the probe against 81-87% with it
// (Emerald Rapids, alternated runs; 2-4 KiB alike). Elsewhere nothing: AMD's streams go in
// non-temporally, unmeasured with this.
#define JETON_STREAM_NEAR_BYTES 3072
static inline void jeton_prefetch_stream_near(const void *p, long bytes) {
    if (!jeton_stream_hint()) return;
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
}
#endif
