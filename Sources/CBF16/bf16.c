// Header-only: include/jeton_bf16.h.
