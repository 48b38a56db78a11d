// Vectorised hot loops for the CPU kernels. A loop is written once, over the shared math of
// temporal.h, with `#pragma omp simd`; `with_best_isa` runs it compiled for AVX2 when the CPU has it
// and for the baseline ISA (SSE2 on x86-64) otherwise, so one binary is fast and portable. The build's
// -fno-math-errno / -fno-trapping-math (torch's own flags) let GCC if-convert the selects and
// vectorise logf through glibc's libmvec. No FMA is enabled: both paths round the same way.
#pragma once

#include <cmath>

#define DRN_INLINE __attribute__((always_inline)) inline

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
// glibc's libmvec has vector logf/log (linked through libm's linker script); its headers announce
// them only under -ffast-math, so say it here: GCC then vectorises loops that call them.
extern "C" float logf(float) noexcept __attribute__((__simd__("notinbranch")));
extern "C" double log(double) noexcept __attribute__((__simd__("notinbranch")));
#endif

namespace drn::cpu {

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
inline bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

// f must be an always-inline lambda, so that its body is compiled inside this AVX2 function.
template <typename F>
__attribute__((target("avx2"))) void run_avx2(const F& f) {
  f();
}

template <typename F>
void with_best_isa(const F& f) {
  if (has_avx2())
    run_avx2(f);
  else
    f();
}
#else
template <typename F>
void with_best_isa(const F& f) {
  f();
}
#endif

}  // namespace drn::cpu
