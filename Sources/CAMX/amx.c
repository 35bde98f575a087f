#include "jeton_amx.h"
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
int jeton_amx_request(void) { return (int)syscall(SYS_arch_prctl, 0x1023, 18); }
#else
int jeton_amx_request(void) { return -1; }
#endif

// XCR0, the state components the OS saves on a context switch (bit 1 SSE, 2 AVX's YMM, 5-7
// AVX-512's opmask and ZMM): `_xgetbv` is a macro Swift cannot import. Only called where cpuid
// reports OSXSAVE (else xgetbv itself is an illegal instruction); 0 off x86-64.
#if defined(__x86_64__)
unsigned long long jeton_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#else
unsigned long long jeton_xcr0(void) { return 0; }
#endif
