// Makes OpenBLAS run a fast kernel on CPUs its DYNAMIC_ARCH detection does not know (see kernel_select.c).
#ifndef REFALIGN_KERNEL_SELECT_H
#define REFALIGN_KERNEL_SELECT_H

#include <stdbool.h>

/// The OPENBLAS_CORETYPE value the constructor sets when OpenBLAS fell back to a pre-AVX2 kernel:
/// "SkylakeX" when AVX-512 is usable, else "Haswell".
const char *refalign_kernel_select_choice(void);

/// The environment variable that marks a process started by that re-execution; its value is the
/// kernel OpenBLAS had fallen back to.
const char *refalign_kernel_select_marker(void);

/// True when CPUID reports AVX2 and FMA and the OS saves YMM state (XGETBV).
bool refalign_cpu_has_avx2_fma(void);

/// True when CPUID reports AVX-512 F, CD, DQ, BW and VL and the OS saves opmask and ZMM state.
bool refalign_cpu_has_avx512(void);

/// True when `core` (an `openblas_get_corename()` value) is a kernel family older than AVX2.
bool refalign_core_is_pre_avx2(const char *core);

/// errno of a re-execution that failed (the process then carries on with the fallback), else 0.
int refalign_kernel_select_exec_errno(void);

#endif
