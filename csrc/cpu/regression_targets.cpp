// regression_targets on the CPU: queries in parallel, each query's locations in one vectorised loop.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <limits>
#include <tuple>

#include "../checks.h"
#include "../regression_targets_args.h"
#include "../temporal.h"
#include "simd.h"

namespace {

// Locations [0, T) of one query whose `count` segments start at seg. Count is a compile-time 1 in
// DRN's case (one segment per query), which lets the loop run without branches.
template <typename T, bool Ranged, int64_t FixedCount>
DRN_INLINE void assign_query(const T* pts, const T* rng, const T* seg, int64_t count, int64_t locations, T* tgt,
                             bool* pos, int64_t* asg) {
  constexpr T kInf = std::numeric_limits<T>::infinity();
#pragma omp simd
  for (int64_t t = 0; t < locations; ++t) {
    drn::assign_location<T>(pts[t], seg, FixedCount > 0 ? FixedCount : count, Ranged ? rng[2 * t] : -kInf,
                            Ranged ? rng[2 * t + 1] : kInf, tgt + 2 * t, pos + t, asg + t);
  }
}

template <typename T, bool Ranged>
void assign_all(const T* pts, const T* rng, const T* seg, const int64_t* cnt, int64_t B, int64_t G, int64_t L, T* tgt,
                bool* pos, int64_t* asg) {
  at::parallel_for(0, B, std::max<int64_t>(1, 16384 / std::max<int64_t>(L, 1)), [&](int64_t lo, int64_t hi) {
    drn::cpu::with_best_isa([&]() __attribute__((always_inline)) {
      for (int64_t b = lo; b < hi; ++b) {
        const T* s = seg + b * G * 2;
        if (G == 1 && cnt == nullptr)
          assign_query<T, Ranged, 1>(pts, rng, s, 1, L, tgt + b * L * 2, pos + b * L, asg + b * L);
        else
          assign_query<T, Ranged, 0>(pts, rng, s, cnt ? cnt[b] : G, L, tgt + b * L * 2, pos + b * L, asg + b * L);
      }
    });
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> regression_targets_cpu(
    const at::Tensor& points_in, const at::Tensor& segments_in, const c10::optional<at::Tensor>& ranges_in,
    const c10::optional<at::Tensor>& num_segments_in) {
  const auto args = drn::RegressionTargetsArgs(points_in, segments_in, ranges_in, num_segments_in);
  const int64_t B = args.batch, G = args.per_query, L = args.locations;
  auto targets = at::empty({B, L, 2}, args.segments.options());
  auto positive = at::empty({B, L}, args.segments.options().dtype(at::kBool));
  auto assigned = at::empty({B, L}, args.segments.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(args.segments.scalar_type(), "regression_targets_cpu", [&] {
    const scalar_t* seg = args.segments.data_ptr<scalar_t>();
    const int64_t* cnt = args.num_segments.defined() ? args.num_segments.data_ptr<int64_t>() : nullptr;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t valid = cnt ? cnt[b] : G;
      for (int64_t g = 0; g < valid; ++g) {
        const scalar_t* sg = seg + (b * G + g) * 2;
        DRN_CHECK_VALUE(!(sg[0] > sg[1]), "regression_targets: segments must have start <= end, but segment [",
                        b, ", ", g, "] is (", sg[0], ", ", sg[1], ")");
      }
    }
    if (B == 0 || L == 0) return;
    const scalar_t* pts = args.points.data_ptr<scalar_t>();
    const scalar_t* rng = args.ranges.defined() ? args.ranges.data_ptr<scalar_t>() : nullptr;
    scalar_t* tgt = targets.data_ptr<scalar_t>();
    bool* pos = positive.data_ptr<bool>();
    int64_t* asg = assigned.data_ptr<int64_t>();
    if (rng)
      assign_all<scalar_t, true>(pts, rng, seg, cnt, B, G, L, tgt, pos, asg);
    else
      assign_all<scalar_t, false>(pts, rng, seg, cnt, B, G, L, tgt, pos, asg);
  });
  return {targets, positive, assigned};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) { m.impl("regression_targets", &regression_targets_cpu); }
