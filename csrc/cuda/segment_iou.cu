// segment_iou on the GPU: one thread per output element. Pairwise, a block is a (columns x rows)
// tile of the [N, M] output, at least a warp wide along a row so that writes and loads of b coalesce.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../checks.h"
#include "../temporal.h"

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // grid-stride loops cover the rest (also grid.y's limit)

template <typename T>
__global__ void segment_iou_aligned_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n,
                                           T* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = drn::segment_iou(a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1]);
}

template <typename T>
__global__ void segment_iou_pairwise_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n, int64_t m,
                                            T* __restrict__ out) {
  const int64_t col_stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t row_stride = static_cast<int64_t>(gridDim.y) * blockDim.y;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; i < n; i += row_stride) {
    const T s = a[2 * i], e = a[2 * i + 1];
    T* row = out + i * m;
    for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < m; j += col_stride)
      row[j] = drn::segment_iou(s, e, b[2 * j], b[2 * j + 1]);
  }
}

int64_t blocks_for(int64_t n, int64_t per_block) {
  return std::min<int64_t>((n + per_block - 1) / per_block, kMaxBlocks);
}

at::Tensor segment_iou_cuda(const at::Tensor& a_in, const at::Tensor& b_in, bool aligned) {
  drn::check_segment_iou_args(a_in, b_in, aligned);
  const int64_t n = a_in.size(0), m = b_in.size(0);
  const c10::cuda::CUDAGuard guard(a_in.device());
  const auto a = a_in.contiguous();
  const auto b = b_in.contiguous();
  drn::check_ordered(a, "segment_iou", "a");
  drn::check_ordered(b, "segment_iou", "b");
  auto out = aligned ? at::empty({n}, a.options()) : at::empty({n, m}, a.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "segment_iou_cuda", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* pb = b.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    if (aligned) {
      const auto blocks = static_cast<unsigned>(blocks_for(n, kThreads));
      segment_iou_aligned_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(pa, pb, n, po);
    } else {
      int cols = 32;  // a power of two from 32 to kThreads covering m, so narrow outputs waste few threads
      while (cols < kThreads && cols < m) cols *= 2;
      const dim3 block(cols, kThreads / cols);
      const dim3 grid(static_cast<unsigned>(blocks_for(m, block.x)), static_cast<unsigned>(blocks_for(n, block.y)));
      segment_iou_pairwise_kernel<scalar_t><<<grid, block, 0, stream>>>(pa, pb, n, m, po);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CUDA, m) { m.impl("segment_iou", &segment_iou_cuda); }
