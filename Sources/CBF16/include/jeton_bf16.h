#ifndef JETON_BF16_H
#define JETON_BF16_H
// AVX-512 BF16 instructions, which Swift cannot call: their intrinsics take __m512bh, a vector
// of __bf16 the importer does not bring in. Each wrapper is one instruction on the integer
// vector type instead and is inlined into the Swift kernel (KernelsAVX512, whose znver4 target
// has BF16). Only called after CPUFeatures.hasAVX512BF16.
#if defined(__x86_64__)
#include <immintrin.h>
#define JETON_BF16 static inline __attribute__((always_inline, target("avx512bf16,avx512f,avx512bw")))

// 32 bf16 (round to nearest even): lo's 16 floats in the low half, hi's in the high half.
JETON_BF16 __m512i jeton_bf16_pack(__m512 hi, __m512 lo) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }

// acc + a[2i]·b[2i] + a[2i+1]·b[2i+1] per float lane i, a and b 32 bf16 each (vdpbf16ps).
JETON_BF16 __m512 jeton_bf16_dot2(__m512 acc, __m512i a, __m512i b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
#endif
#endif
