// regression_targets on the CPU: one (query, location) pair per work item.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <limits>
#include <tuple>

#include "../checks.h"
#include "../regression_targets_args.h"
#include "../temporal.h"

namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> regression_targets_cpu(
    const at::Tensor& points_in, const at::Tensor& segments_in, const c10::optional<at::Tensor>& ranges_in,
    const c10::optional<at::Tensor>& num_segments_in) {
  const auto args = drn::RegressionTargetsArgs(points_in, segments_in, ranges_in, num_segments_in);
  const int64_t B = args.batch, G = args.per_query, T = args.locations;
  auto targets = at::empty({B, T, 2}, args.segments.options());
  auto positive = at::empty({B, T}, args.segments.options().dtype(at::kBool));
  auto assigned = at::empty({B, T}, args.segments.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(args.segments.scalar_type(), "regression_targets_cpu", [&] {
    const scalar_t* seg = args.segments.data_ptr<scalar_t>();
    const int64_t* cnt = args.num_segments.defined() ? args.num_segments.data_ptr<int64_t>() : nullptr;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t valid = cnt ? cnt[b] : G;
      for (int64_t g = 0; g < valid; ++g) {
        const scalar_t* sg = seg + (b * G + g) * 2;
        TORCH_CHECK_VALUE(!(sg[0] > sg[1]), "regression_targets: segments must have start <= end, but segment [",
                          b, ", ", g, "] is (", sg[0], ", ", sg[1], ")");
      }
    }
    if (T == 0) return;
    const scalar_t* pts = args.points.data_ptr<scalar_t>();
    const scalar_t* rng = args.ranges.defined() ? args.ranges.data_ptr<scalar_t>() : nullptr;
    scalar_t* tgt = targets.data_ptr<scalar_t>();
    bool* pos = positive.data_ptr<bool>();
    int64_t* asg = assigned.data_ptr<int64_t>();
    at::parallel_for(0, B * T, 8192, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const int64_t b = k / T, t = k - b * T;
        drn::assign_location<scalar_t>(pts[t], seg + b * G * 2, cnt ? cnt[b] : G,
                                       rng ? rng[2 * t] : -std::numeric_limits<scalar_t>::infinity(),
                                       rng ? rng[2 * t + 1] : std::numeric_limits<scalar_t>::infinity(),
                                       tgt + 2 * k, pos + k, asg + k);
      }
    });
  });
  return {targets, positive, assigned};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) { m.impl("regression_targets", &regression_targets_cpu); }
