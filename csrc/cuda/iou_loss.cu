// iou_loss forward and backward on the GPU: one fused pass each. A reduced forward sums in double
// into one partial per block, over a grid whose size depends only on the element count, then one
// block adds the partials in a fixed order: the result is the same on every run and every GPU.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "../checks.h"
#include "../iou_loss_args.h"
#include "../temporal.h"

namespace {

constexpr int kThreads = 256;              // a multiple of 32, at most 32 warps (block_sum2)
constexpr int64_t kMaxBlocks = 65535;      // elementwise passes: a grid-stride loop covers the rest
constexpr int64_t kReduceBlocks = 1024;    // partials of a reduced forward, at most

int64_t blocks_for(int64_t n, int64_t cap) { return std::min<int64_t>((n + kThreads - 1) / kThreads, cap); }

// Sums a and b over the block (warp shuffles, then the first warp); thread 0 gets the totals.
// Every thread of the block must call it.
__device__ void block_sum2(double& a, double& b) {
  __shared__ double warp_a[32], warp_b[32];
  for (int off = 16; off > 0; off >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, off);
    b += __shfl_down_sync(0xffffffffu, b, off);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    warp_a[warp] = a;
    warp_b[warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x >> 5;
    a = lane < warps ? warp_a[lane] : 0.0;
    b = lane < warps ? warp_b[lane] : 0.0;
    for (int off = 16; off > 0; off >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, off);
      b += __shfl_down_sync(0xffffffffu, b, off);
    }
  }
}

template <typename T>
__global__ void iou_loss_none_kernel(const T* __restrict__ p, const T* __restrict__ t, const T* __restrict__ w,
                                     int64_t n, int type, T eps, T* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, eps);
    out[i] = w ? w[i] * v : v;
  }
}

// partials: [2, gridDim.x], the block's weighted loss sum, then its weight sum (0 without weights).
template <typename T>
__global__ void iou_loss_partial_kernel(const T* __restrict__ p, const T* __restrict__ t, const T* __restrict__ w,
                                        int64_t n, int type, T eps, double* __restrict__ partials) {
  double loss_sum = 0.0, weight_sum = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, eps);
    if (w) {
      loss_sum += static_cast<double>(w[i]) * static_cast<double>(v);
      weight_sum += static_cast<double>(w[i]);
    } else {
      loss_sum += static_cast<double>(v);
    }
  }
  block_sum2(loss_sum, weight_sum);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = loss_sum;
    partials[gridDim.x + blockIdx.x] = weight_sum;
  }
}

// One block: adds the partials, divides for "mean" (by the weight sum, else the count; 0 over 0).
template <typename T>
__global__ void iou_loss_finish_kernel(const double* __restrict__ partials, int blocks, int64_t n, bool weighted,
                                       int reduction, T* __restrict__ out) {
  double loss_sum = 0.0, weight_sum = 0.0;
  for (int k = threadIdx.x; k < blocks; k += blockDim.x) {
    loss_sum += partials[k];
    weight_sum += partials[blocks + k];
  }
  block_sum2(loss_sum, weight_sum);
  if (threadIdx.x != 0) return;
  const double denom = weighted ? weight_sum : static_cast<double>(n);
  const double result = reduction == drn::kSum ? loss_sum : (denom != 0.0 ? loss_sum / denom : 0.0);
  out[0] = static_cast<T>(result);
}

// grad is [n] for "none", else one value; weight_sum (device, double) is given for a weighted "mean".
template <typename T>
__global__ void iou_loss_backward_kernel(const T* __restrict__ grad, const T* __restrict__ p, const T* __restrict__ t,
                                         const T* __restrict__ w, const double* __restrict__ weight_sum, int64_t n,
                                         int type, int reduction, T eps, T* __restrict__ grad_pred,
                                         T* __restrict__ grad_target) {
  // The scale of a reduced loss, computed as the CPU kernel does: g / denom in double, then rounded.
  T scale = reduction == drn::kNone ? T(0) : grad[0];
  if (reduction == drn::kMean) {
    const double denom = weight_sum ? *weight_sum : static_cast<double>(n);
    scale = denom != 0.0 ? static_cast<T>(static_cast<double>(grad[0]) / denom) : T(0);
  }
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    T s = reduction == drn::kNone ? grad[i] : scale;
    if (w) s *= w[i];
    drn::iou_loss_grad(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, eps, s, grad_pred + 2 * i,
                       grad_pred + 2 * i + 1, grad_target + 2 * i, grad_target + 2 * i + 1);
  }
}

at::Tensor iou_loss_cuda(const at::Tensor& pred_in, const at::Tensor& target_in,
                         const c10::optional<at::Tensor>& weight_in, c10::string_view loss_type,
                         c10::string_view reduction, double eps) {
  const drn::IouLossArgs args(pred_in, target_in, weight_in, loss_type, reduction);
  const c10::cuda::CUDAGuard guard(pred_in.device());
  const auto& pred = args.pred;
  const auto& target = args.target;
  const auto& weight = args.weight;
  const int type = args.type, red = args.reduction;
  const int64_t n = args.pairs;
  const auto lead = args.lead;
  if (red == drn::kNone) {
    auto out = at::empty(lead, pred.options());
    if (n == 0) return out;
    const auto blocks = static_cast<unsigned>(blocks_for(n, kMaxBlocks));
    AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_cuda", [&] {
      iou_loss_none_kernel<scalar_t><<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
          pred.data_ptr<scalar_t>(), target.data_ptr<scalar_t>(),
          weight.defined() ? weight.data_ptr<scalar_t>() : nullptr, n, type, static_cast<scalar_t>(eps),
          out.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    return out;
  }
  // A sum or mean over nothing is 0, not NaN.
  if (n == 0) return at::zeros({}, pred.options());
  auto out = at::empty({}, pred.options());
  const int64_t blocks = blocks_for(n, kReduceBlocks);
  auto partials = at::empty({2, blocks}, pred.options().dtype(at::kDouble));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_cuda", [&] {
    iou_loss_partial_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        pred.data_ptr<scalar_t>(), target.data_ptr<scalar_t>(),
        weight.defined() ? weight.data_ptr<scalar_t>() : nullptr, n, type, static_cast<scalar_t>(eps),
        partials.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    iou_loss_finish_kernel<scalar_t><<<1, kThreads, 0, stream>>>(partials.data_ptr<double>(),
                                                                 static_cast<int>(blocks), n, weight.defined(),
                                                                 red, out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> iou_loss_backward_cuda(const at::Tensor& grad_in, const at::Tensor& pred_in,
                                                         const at::Tensor& target_in,
                                                         const c10::optional<at::Tensor>& weight_in,
                                                         c10::string_view loss_type, c10::string_view reduction,
                                                         double eps) {
  const drn::IouLossArgs args(pred_in, target_in, weight_in, loss_type, reduction);
  const c10::cuda::CUDAGuard guard(pred_in.device());
  const auto& pred = args.pred;
  const auto& target = args.target;
  const auto& weight = args.weight;
  const int type = args.type, red = args.reduction;
  const int64_t n = args.pairs;
  const auto grad = args.grad(grad_in);
  auto grad_pred = at::empty_like(pred);
  auto grad_target = at::empty_like(target);
  if (n == 0) return {grad_pred, grad_target};
  // Only a weighted mean needs the weight sum; it stays on the device (no host sync).
  const auto weight_sum = red == drn::kMean && weight.defined() ? at::sum(weight, at::kDouble) : at::Tensor();
  const auto blocks = static_cast<unsigned>(blocks_for(n, kMaxBlocks));
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_backward_cuda", [&] {
    iou_loss_backward_kernel<scalar_t><<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        grad.data_ptr<scalar_t>(), pred.data_ptr<scalar_t>(), target.data_ptr<scalar_t>(),
        weight.defined() ? weight.data_ptr<scalar_t>() : nullptr,
        weight_sum.defined() ? weight_sum.data_ptr<double>() : nullptr, n, type, red, static_cast<scalar_t>(eps),
        grad_pred.data_ptr<scalar_t>(), grad_target.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_pred, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CUDA, m) {
  m.impl("iou_loss", &iou_loss_cuda);
  m.impl("iou_loss_backward", &iou_loss_backward_cuda);
}
