// Mostly header-only (include/jeton_prefetch.h): this holds the stream hint's one variable.
#include "jeton_prefetch.h"

int jeton_stream_into_l2 = 0;
