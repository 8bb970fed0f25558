/* Which int8 kernel table this build and CPU can run (q8.h).
 *
 * The tables are defined one per ISA file and found here by name only:
 *   every build      fw_q8_ref_kernels                         (q8_ref.c)
 *   x86-64           fw_q8_avx2_kernels, fw_q8_avx512_kernels  (q8_avx2.c, q8_avx512.c),
 *                    fw_q8_amx_kernels                         (q8_avx512.c)
 *   aarch64          fw_q8_neon_kernels, fw_q8_neondot_kernels (q8_neon.c)
 * core/CMakeLists.txt compiles each ISA file on its architecture only, with
 * its own flags; the rest of the program is built for the baseline, so a
 * table is handed out only after the CPU says it runs that ISA.
 *
 * CPU features: __builtin_cpu_supports on x86 (it also checks that the OS
 * saves the AVX/AVX-512 registers, XGETBV); AMX from CPUID leaf 7 and the
 * kernel's leave to use its tile data (arch_prctl ARCH_REQ_XCOMP_PERM, Linux
 * 5.16 on: the state is large, so a process must ask); HWCAP_ASIMDDP from
 * getauxval(AT_HWCAP) on aarch64 (Advanced SIMD itself is mandatory there).
 * The active ISA is decided once (pthread_once), honouring FACEWATCH_ISA.
 */
#include "q8.h"
#include "../fw.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif
#endif

extern const struct fw_q8_kernels fw_q8_ref_kernels;
#if defined(__x86_64__)
extern const struct fw_q8_kernels fw_q8_avx2_kernels, fw_q8_avx512_kernels, fw_q8_amx_kernels;
#elif defined(__aarch64__)
extern const struct fw_q8_kernels fw_q8_neon_kernels, fw_q8_neondot_kernels;
#endif

static const char *const isa_names[FW_ISA_COUNT] = {
	[FW_ISA_REF] = "ref",
	[FW_ISA_AVX2] = "avx2",
	[FW_ISA_AVX512] = "avx512",
	[FW_ISA_NEON] = "neon",
	[FW_ISA_NEON_DOT] = "neondot",
	[FW_ISA_AMX] = "amx",
};

const char *fw_isa_name(enum fw_isa isa)
{
	if ((unsigned)isa >= FW_ISA_COUNT)
		return "unknown";
	return isa_names[isa];
}

/* The table built for isa, whether or not this CPU runs it. */
static const struct fw_q8_kernels *built_table(enum fw_isa isa)
{
	switch (isa) {
	case FW_ISA_REF:
		return &fw_q8_ref_kernels;
#if defined(__x86_64__)
	case FW_ISA_AVX2:
		return &fw_q8_avx2_kernels;
	case FW_ISA_AVX512:
		return &fw_q8_avx512_kernels;
	case FW_ISA_AMX:
		return &fw_q8_amx_kernels;
#elif defined(__aarch64__)
	case FW_ISA_NEON:
		return &fw_q8_neon_kernels;
	case FW_ISA_NEON_DOT:
		return &fw_q8_neondot_kernels;
#endif
	default:
		return NULL;
	}
}

#if defined(__x86_64__)
/* AMX-TILE and AMX-INT8 (CPUID.(7,0):EDX bits 24, 25), and the kernel lets
 * this process use the tile data (XFEATURE_XTILEDATA = 18). Asking twice
 * is harmless; a kernel without the request (before 5.16) says EINVAL. */
static int amx_usable(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25)))
		return 0;
	return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18) == 0;
}
#endif

static int cpu_runs(enum fw_isa isa)
{
	switch (isa) {
	case FW_ISA_REF:
		return 1;
#if defined(__x86_64__)
	case FW_ISA_AVX2:
		__builtin_cpu_init();
		return __builtin_cpu_supports("avx2") != 0;
	case FW_ISA_AVX512:
		__builtin_cpu_init();
		/* the file is built with -mavx2 too, so AVX2 is required as well */
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx512vnni");
	case FW_ISA_AMX:
		return cpu_runs(FW_ISA_AVX512) && __builtin_cpu_supports("avx512vbmi2") && amx_usable();
#elif defined(__aarch64__)
	case FW_ISA_NEON:
		return 1;
	case FW_ISA_NEON_DOT:
		return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
	default:
		return 0;
	}
}

const struct fw_q8_kernels *fw_q8_kernels_for(enum fw_isa isa)
{
	const struct fw_q8_kernels *k = built_table(isa);

	return k && cpu_runs(isa) ? k : NULL;
}

static pthread_once_t active_once = PTHREAD_ONCE_INIT;
static enum fw_isa active_isa = FW_ISA_REF;

static void decide_active(void)
{
	const char *want = getenv("FACEWATCH_ISA");
	enum fw_isa best = FW_ISA_REF;

	/* the enum is ordered by preference within each architecture */
	for (int i = FW_ISA_COUNT - 1; i > FW_ISA_REF; i--) {
		if (fw_q8_kernels_for((enum fw_isa)i)) {
			best = (enum fw_isa)i;
			break;
		}
	}
	active_isa = best;
	if (!want || !*want)
		return;
	for (int i = 0; i < FW_ISA_COUNT; i++) {
		if (strcmp(want, isa_names[i]) != 0)
			continue;
		if (fw_q8_kernels_for((enum fw_isa)i))
			active_isa = (enum fw_isa)i;
		else
			fw_log(FW_LOG_WARN,
			       "FACEWATCH_ISA=%s: this %s cannot run it; using %s instead",
			       want, built_table((enum fw_isa)i) ? "CPU" : "build", isa_names[best]);
		return;
	}
	fw_log(FW_LOG_WARN,
	       "FACEWATCH_ISA=%s is not an ISA name (ref, avx2, avx512, amx, neon, neondot); using %s",
	       want, isa_names[best]);
}

enum fw_isa fw_isa_active(void)
{
	pthread_once(&active_once, decide_active);
	return active_isa;
}
