// Vectorised hot loops for the CPU kernels. A loop is written once, over the shared math of
// temporal.h, with `#pragma omp simd`; `with_best_isa` runs it compiled for AVX-512 or AVX2 when the
// CPU has them and for the baseline ISA (SSE2 on x86-64) otherwise: one binary, fast and portable.
// The build's -fno-math-errno / -fno-trapping-math (torch's own flags) let GCC if-convert the
// selects and vectorise logf through glibc's libmvec; -ffp-contract=off keeps FMA out, so every
// path rounds the arithmetic alike (libmvec's logf may differ from the scalar one in the last bit).
#pragma once

#include <cmath>
#include <cstdlib>
#include <cstring>

#define DRN_INLINE __attribute__((always_inline)) inline

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
// glibc's libmvec has vector logf/log (linked through libm's linker script); its headers announce
// them only under -ffast-math, so say it here: GCC then vectorises loops that call them.
extern "C" float logf(float) noexcept __attribute__((__simd__("notinbranch")));
extern "C" double log(double) noexcept __attribute__((__simd__("notinbranch")));
#endif

namespace drn::cpu {

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DRN_AVX512 "avx512f,avx512vl,avx512bw,avx512dq"

// 2: AVX-512, 1: AVX2, 0: the baseline. DRN_CPU_ISA=baseline|avx2 caps it (to test every path).
inline int best_isa() {
  static const int isa = [] {
    const int have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
                         ? 2
                         : __builtin_cpu_supports("avx2") ? 1 : 0;
    const char* cap = std::getenv("DRN_CPU_ISA");
    if (cap && std::strcmp(cap, "baseline") == 0) return 0;
    if (cap && std::strcmp(cap, "avx2") == 0) return have < 1 ? have : 1;
    return have;
  }();
  return isa;
}

// f must be an always-inline lambda, so that its body is compiled inside these functions.
template <typename F>
__attribute__((target(DRN_AVX512))) void run_avx512(const F& f) {
  f();
}

template <typename F>
__attribute__((target("avx2"))) void run_avx2(const F& f) {
  f();
}

template <typename F>
void with_best_isa(const F& f) {
  switch (best_isa()) {
    case 2:
      run_avx512(f);
      break;
    case 1:
      run_avx2(f);
      break;
    default:
      f();
  }
}
#else
template <typename F>
void with_best_isa(const F& f) {
  f();
}
#endif

}  // namespace drn::cpu
