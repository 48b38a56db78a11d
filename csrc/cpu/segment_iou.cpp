// segment_iou on the CPU: rows of the output in parallel, each row one vectorised loop.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../checks.h"
#include "../temporal.h"
#include "simd.h"

namespace {

template <typename T>
DRN_INLINE void iou_aligned(const T* a, const T* b, int64_t lo, int64_t hi, T* out) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) out[i] = drn::segment_iou(a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1]);
}

// Rows [lo, hi) of the [n, m] matrix.
template <typename T>
DRN_INLINE void iou_rows(const T* a, const T* b, int64_t m, int64_t lo, int64_t hi, T* out) {
  for (int64_t i = lo; i < hi; ++i) {
    const T s = a[2 * i], e = a[2 * i + 1];
    T* row = out + i * m;
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) row[j] = drn::segment_iou(s, e, b[2 * j], b[2 * j + 1]);
  }
}

at::Tensor segment_iou_cpu(const at::Tensor& a_in, const at::Tensor& b_in, bool aligned) {
  drn::check_segment_iou_args(a_in, b_in, aligned);
  const int64_t n = a_in.size(0), m = b_in.size(0);
  const auto a = a_in.contiguous();
  const auto b = b_in.contiguous();
  auto out = aligned ? at::empty({n}, a.options()) : at::empty({n, m}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "segment_iou_cpu", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    drn::check_ordered_cpu(pa, n, "segment_iou", "a");
    drn::check_ordered_cpu(pb, m, "segment_iou", "b");
    if (aligned) {
      at::parallel_for(0, n, 16384, [&](int64_t lo, int64_t hi) {
        drn::cpu::with_best_isa([&]() __attribute__((always_inline)) { iou_aligned(pa, pb, lo, hi, po); });
      });
      return;
    }
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(m, 1));
    at::parallel_for(0, n, grain, [&](int64_t lo, int64_t hi) {
      drn::cpu::with_best_isa([&]() __attribute__((always_inline)) { iou_rows(pa, pb, m, lo, hi, po); });
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) { m.impl("segment_iou", &segment_iou_cpu); }
