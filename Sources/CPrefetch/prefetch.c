// Header-only: include/jeton_prefetch.h.
