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
// `bytes` bytes as non-temporal (prefetchnta): for weights a matrix-vector product reads once
// per token. Four KiB ahead this way streamed Qwen 1.5B's packed weights 12-22% faster than
// prefetcht1 16 KiB ahead on Zen 5; the packed K-quant kernels ask for a few lines at each unit,
// 8 KiB ahead for one token on AVX-512 (faster on Zen 4 when its memory runs at ~60 GB/s).
static inline void jeton_prefetch_range_nta(const void *p, long bytes) {
    const char *c = (const char *)p;
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 0);
}
#endif
