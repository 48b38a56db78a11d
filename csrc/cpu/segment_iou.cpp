// segment_iou on the CPU: rows of the output in parallel.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../checks.h"
#include "../temporal.h"

namespace {

at::Tensor segment_iou_cpu(const at::Tensor& a_in, const at::Tensor& b_in, bool aligned) {
  drn::check_segments(a_in, "segment_iou", "a");
  drn::check_segments(b_in, "segment_iou", "b");
  drn::check_same(a_in, b_in, "segment_iou", "a", "b");
  const int64_t n = a_in.size(0), m = b_in.size(0);
  TORCH_CHECK_VALUE(!aligned || n == m, "segment_iou: aligned=True needs as many segments in a as in b, got ",
                    n, " and ", m);
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
      at::parallel_for(0, n, 4096, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i)
          po[i] = drn::segment_iou(pa[2 * i], pa[2 * i + 1], pb[2 * i], pb[2 * i + 1]);
      });
      return;
    }
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(m, 1));
    at::parallel_for(0, n, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const scalar_t s = pa[2 * i], e = pa[2 * i + 1];
        scalar_t* row = po + i * m;
        for (int64_t j = 0; j < m; ++j) row[j] = drn::segment_iou(s, e, pb[2 * j], pb[2 * j + 1]);
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) { m.impl("segment_iou", &segment_iou_cpu); }
