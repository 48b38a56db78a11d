// regression_targets on the GPU: one thread per (query, location) pair, running the shared
// drn::assign_location over that query's segments.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <tuple>

#include "../checks.h"
#include "../regression_targets_args.h"
#include "../temporal.h"

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // a grid-stride loop covers the rest

// `lo_default` / `hi_default` (-inf, inf) stand in for the range when `ranges` is absent.
template <typename T>
__global__ void regression_targets_kernel(const T* __restrict__ points, const T* __restrict__ segments,
                                          const T* __restrict__ ranges, const int64_t* __restrict__ num_segments,
                                          int64_t locations, int64_t per_query, int64_t pairs, T lo_default,
                                          T hi_default, T* __restrict__ targets, bool* __restrict__ positive,
                                          int64_t* __restrict__ assigned) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < pairs; k += stride) {
    const int64_t b = k / locations, t = k - b * locations;
    drn::assign_location<T>(points[t], segments + b * per_query * 2, num_segments ? num_segments[b] : per_query,
                            ranges ? ranges[2 * t] : lo_default, ranges ? ranges[2 * t + 1] : hi_default,
                            targets + 2 * k, positive + k, assigned + k);
  }
}

// The CPU kernel's value check (start <= end for the valid segments), with ATen ops on the device.
void check_valid_ordered(const drn::RegressionTargetsArgs& args) {
  const auto& seg = args.segments;  // [B, G, 2]
  auto bad = at::gt(seg.select(2, 0), seg.select(2, 1));
  if (args.num_segments.defined())
    bad.logical_and_(at::arange(args.per_query, args.num_segments.options()).unsqueeze(0) <
                     args.num_segments.unsqueeze(1));
  if (!bad.any().item<bool>()) return;
  const int64_t k = bad.flatten().nonzero().select(1, 0)[0].item<int64_t>();
  const int64_t b = k / args.per_query, g = k - b * args.per_query;
  DRN_CHECK_VALUE(false, "regression_targets: segments must have start <= end, but segment [", b, ", ", g,
                  "] is (", seg[b][g][0].item<double>(), ", ", seg[b][g][1].item<double>(), ")");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> regression_targets_cuda(
    const at::Tensor& points_in, const at::Tensor& segments_in, const c10::optional<at::Tensor>& ranges_in,
    const c10::optional<at::Tensor>& num_segments_in) {
  const auto args = drn::RegressionTargetsArgs(points_in, segments_in, ranges_in, num_segments_in);
  const c10::cuda::CUDAGuard guard(args.segments.device());  // after the checks: every input is on it
  const int64_t B = args.batch, G = args.per_query, T = args.locations;
  auto targets = at::empty({B, T, 2}, args.segments.options());
  auto positive = at::empty({B, T}, args.segments.options().dtype(at::kBool));
  auto assigned = at::empty({B, T}, args.segments.options().dtype(at::kLong));
  if (B == 0 || T == 0) return {targets, positive, assigned};
  check_valid_ordered(args);
  const int64_t pairs = B * T;
  const int64_t blocks = std::min<int64_t>((pairs + kThreads - 1) / kThreads, kMaxBlocks);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(args.segments.scalar_type(), "regression_targets_cuda", [&] {
    regression_targets_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        args.points.data_ptr<scalar_t>(), args.segments.data_ptr<scalar_t>(),
        args.ranges.defined() ? args.ranges.data_ptr<scalar_t>() : nullptr,
        args.num_segments.defined() ? args.num_segments.data_ptr<int64_t>() : nullptr, T, G, pairs,
        -std::numeric_limits<scalar_t>::infinity(), std::numeric_limits<scalar_t>::infinity(),
        targets.data_ptr<scalar_t>(), positive.data_ptr<bool>(), assigned.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {targets, positive, assigned};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CUDA, m) { m.impl("regression_targets", &regression_targets_cuda); }
