// Built with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called when the CPU has them.
#define PANNING_ISA_NAME avx2
#define PANNING_ISA_AVX2 1
#include "distance_kernels.inc"
