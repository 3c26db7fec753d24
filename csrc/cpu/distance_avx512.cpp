// Built with -mavx512f -mavx512vl -mavx512bw -mavx512dq -mfma -mf16c; only called when the CPU has
// them.
#define PANNING_ISA_NAME avx512
#define PANNING_ISA_AVX512 1
#include "distance_kernels.inc"
