// Portable baseline (SSE2 on x86-64): the fallback every CPU can run.
#define PANNING_ISA_NAME generic
#define PANNING_ISA_GENERIC 1
#include "distance_kernels.inc"
