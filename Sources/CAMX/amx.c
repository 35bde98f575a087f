#include "jeton_amx.h"
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
int jeton_amx_request(void) { return (int)syscall(SYS_arch_prctl, 0x1023, 18); }
#else
int jeton_amx_request(void) { return -1; }
#endif
