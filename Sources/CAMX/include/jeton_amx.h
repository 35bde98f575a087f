#ifndef JETON_AMX_H
#define JETON_AMX_H
// AMX tile instructions, which Swift cannot spell: the intrinsics are macros taking the tile
// number as a constant. Each wrapper is one instruction and is inlined into the Swift kernel
// (KernelsAVX512, compiled with -mamx-tile -mamx-int8), where the tile numbers are literals,
// so the switches fold away. Only called after CPUFeatures.hasAMX. Also XCR0 for CPUFeatures.
#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define JETON_AMX static inline __attribute__((always_inline, target("amx-tile,amx-int8")))

JETON_AMX void jeton_tile_config(const void *config) { _tile_loadconfig(config); }
JETON_AMX void jeton_tile_release(void) { _tile_release(); }

JETON_AMX void jeton_tile_zero(int t) {
    switch (t) {
    case 0: _tile_zero(0); break; case 1: _tile_zero(1); break; case 2: _tile_zero(2); break;
    case 3: _tile_zero(3); break; case 4: _tile_zero(4); break; case 5: _tile_zero(5); break;
    case 6: _tile_zero(6); break; default: _tile_zero(7); break;
    }
}
JETON_AMX void jeton_tile_load(int t, const void *p, size_t stride) {
    switch (t) {
    case 0: _tile_loadd(0, p, stride); break; case 1: _tile_loadd(1, p, stride); break;
    case 2: _tile_loadd(2, p, stride); break; case 3: _tile_loadd(3, p, stride); break;
    case 4: _tile_loadd(4, p, stride); break; case 5: _tile_loadd(5, p, stride); break;
    case 6: _tile_loadd(6, p, stride); break; default: _tile_loadd(7, p, stride); break;
    }
}
JETON_AMX void jeton_tile_store(int t, void *p, size_t stride) {
    switch (t) {
    case 0: _tile_stored(0, p, stride); break; case 1: _tile_stored(1, p, stride); break;
    case 2: _tile_stored(2, p, stride); break; case 3: _tile_stored(3, p, stride); break;
    case 4: _tile_stored(4, p, stride); break; case 5: _tile_stored(5, p, stride); break;
    case 6: _tile_stored(6, p, stride); break; default: _tile_stored(7, p, stride); break;
    }
}
// C[c] += A[a] · B[b], A signed bytes (activations), B unsigned bytes (weights): tdpbsud.
// The kernels use these accumulator/operand triples only.
JETON_AMX void jeton_tile_dpbsud(int c, int a, int b) {
    if (c == 0 && a == 2 && b == 3) _tile_dpbsud(0, 2, 3);
    else if (c == 1 && a == 2 && b == 4) _tile_dpbsud(1, 2, 4);
    else if (c == 5 && a == 7 && b == 3) _tile_dpbsud(5, 7, 3);
    else _tile_dpbsud(6, 7, 4);
}
#endif

// Asks Linux for permission to use the AMX tile data state (arch_prctl ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA): 0 when granted. The kernel keeps AMX off for a process that has not asked.
int jeton_amx_request(void);
// XCR0 (xgetbv 0): which register state the OS saves. Call only where cpuid reports OSXSAVE.
unsigned long long jeton_xcr0(void);
#endif
