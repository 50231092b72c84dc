// OpenBLAS 0.3.21 (Debian's DYNAMIC_ARCH build) does not recognise some newer CPUs (e.g. Xeon family 6
// model 207) and falls back to its Prescott (SSE3) kernels: sgemm runs about 3.5x slower. It reads
// OPENBLAS_CORETYPE only while the library loads, before any code of ours runs, so the variable must be
// in the environment when the process starts. This constructor runs after libopenblas's own (shared
// libraries initialise before the executable): if the user did not choose a kernel, OpenBLAS picked a
// pre-AVX2 one and the CPU has AVX2 + FMA, it sets OPENBLAS_CORETYPE and re-executes the program once,
// with the same arguments. Every executable that links Tensor (CLI, benchmarks, test runner) gets it.
// (Re-initialising OpenBLAS in process would need its internal gotoblas_dynamic_init, which is not API.)
// Under valgrind, which does not follow an exec by default, set OPENBLAS_CORETYPE yourself.
#include "kernel_select.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

char *openblas_get_corename(void);

static const char marker[] = "REFALIGN_OPENBLAS_FALLBACK";
static int exec_errno = 0;

const char *refalign_kernel_select_marker(void) { return marker; }
int refalign_kernel_select_exec_errno(void) { return exec_errno; }

#if defined(__x86_64__)
static unsigned xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return lo;
}
#endif

bool refalign_cpu_has_avx2_fma(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const unsigned fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28;
    if ((c & (fma | osxsave | avx)) != (fma | osxsave | avx)) return false;
    if ((xcr0() & 0x6) != 0x6) return false;  // the OS saves XMM and YMM registers
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (b & (1u << 5)) != 0;  // AVX2
#else
    return false;
#endif
}

bool refalign_cpu_has_avx512(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!refalign_cpu_has_avx2_fma() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned f = 1u << 16, dq = 1u << 17, cd = 1u << 28, bw = 1u << 30, vl = 1u << 31;
    // Skylake-X's subset (what OpenBLAS's SkylakeX kernels use), with opmask and ZMM state saved by the OS.
    return (b & (f | dq | cd | bw | vl)) == (f | dq | cd | bw | vl) && (xcr0() & 0xE6) == 0xE6;
#else
    return false;
#endif
}

// SkylakeX where AVX-512 is usable, else Haswell. Measured on a Xeon family 6 model 207 (README, "Threads
// and determinism"): SkylakeX's sgemm is 1.6-1.8x Haswell's at M = 1024, sgemv equal, and it passes the op
// harness, the torch-parity tests and a gemm check against long double on 1500 random cases.
const char *refalign_kernel_select_choice(void) { return refalign_cpu_has_avx512() ? "SkylakeX" : "Haswell"; }

bool refalign_core_is_pre_avx2(const char *core) {
    // OpenBLAS's x86 kernel families without AVX2 (Sandybridge has AVX only).
    static const char *const old[] = {
        "Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
        "Dunnington", "Nehalem", "Sandybridge", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano",
        "Bobcat",
    };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (strcasecmp(core, old[i]) == 0) return true;
    return false;
}

// glibc passes (argc, argv, envp) to constructors of the executable.
__attribute__((constructor)) static void select_kernel(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    if (getenv("OPENBLAS_CORETYPE") != NULL || getenv(marker) != NULL) return;  // user's choice, or done
    const char *core = openblas_get_corename();
    if (argv == NULL || !refalign_core_is_pre_avx2(core) || !refalign_cpu_has_avx2_fma()) return;
    if (setenv(marker, core, 1) != 0 || setenv("OPENBLAS_CORETYPE", refalign_kernel_select_choice(), 1) != 0) {
        exec_errno = errno;
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv(marker);
        return;
    }
    execv("/proc/self/exe", argv);
    exec_errno = errno;  // carry on with the fallback kernel; BLAS.coreSelection reports why
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(marker);
}
