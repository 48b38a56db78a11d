// batched_temporal_nms on the GPU. All elements are ordered once on the device by (group asc,
// score desc, index asc) with two stable sorts, so each group is a run of consecutive positions
// already in greedy order. Runs of up to kSmallRun segments take one launch with one block per run
// (segments in shared memory, sequential greedy, parallel suppression). Larger runs (temporal
// action localisation: tens of thousands of proposals in one group) take a bitmask path: one
// kernel fills 64x64 tiles of suppression bits, then one block per run walks its rows in order.
// Runs past kBitmaskRun (its N^2 / 8 bytes would not fit: a million proposals in one group) take
// a sparse sweep: candidates sorted by start, each one's suppressors found in the window of starts
// that can overlap it (drn::iou_window_low, the CPU sweep's bound), then greedy decided in parallel
// rounds over that sparse graph: O(N log N + edges), not O(N^2).
// Each path marks a keep flag per element; the kept ids come out in score-desc / index-asc order.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../checks.h"
#include "../nms_args.h"
#include "../temporal.h"

namespace {

using Word = unsigned long long;  // a row's suppression bits for 64 consecutive candidates

constexpr int64_t kSmallRun = 1024;  // the largest run one block handles from shared memory
constexpr int64_t kBitmaskRun = 16384;  // the largest run of the bitmask path (a 32 MB mask)
constexpr int kSweepThreads = 256;
constexpr int kRoundsPerCheck = 8;  // sweep rounds launched between two reads of "any undecided?"
constexpr int kParallelRounds = 64;  // then one block finishes the rest in rank order
constexpr int kSmallThreads = 256;
constexpr int kTile = 64;            // bits per Word; the mask kernel's block size
constexpr int kWalkThreads = 256;
constexpr int64_t kMaxGrid = int64_t(1) << 20;  // grid-stride loops cover the rest
constexpr size_t kDefaultSharedBytes = 48 * 1024;

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// One block per run of at most `capacity` segments (larger runs are skipped: the bitmask path
// takes them). Candidates are visited in order; a kept one suppresses every later candidate j
// with IoU > thr, the comparison done in double as on the CPU.
template <typename T>
__global__ void nms_small_runs_kernel(const T* __restrict__ segs, const int64_t* __restrict__ order,
                                      const int64_t* __restrict__ run_first, const int64_t* __restrict__ run_count,
                                      int64_t runs, int capacity, double thr, int64_t limit,
                                      bool* __restrict__ keep) {
  extern __shared__ __align__(sizeof(double)) unsigned char nms_small_smem[];
  T* start = reinterpret_cast<T*>(nms_small_smem);
  T* end = start + capacity;
  unsigned char* removed = reinterpret_cast<unsigned char*>(end + capacity);
  for (int64_t r = blockIdx.x; r < runs; r += gridDim.x) {
    if (run_count[r] > capacity) continue;  // uniform in the block
    const int count = static_cast<int>(run_count[r]);
    const int64_t first = run_first[r];
    for (int k = threadIdx.x; k < count; k += blockDim.x) {
      start[k] = segs[2 * (first + k)];
      end[k] = segs[2 * (first + k) + 1];
      removed[k] = 0;
    }
    __syncthreads();
    // Writes below only touch removed[j > i], and every kept candidate ends with a barrier, so
    // all threads read the same removed[i] and take the same branches.
    int64_t kept = 0;
    for (int i = 0; i < count; ++i) {
      if (removed[i]) continue;
      if (threadIdx.x == 0) keep[order[first + i]] = true;
      if (++kept == limit) break;
      const T s = start[i], e = end[i];
      for (int j = i + 1 + threadIdx.x; j < count; j += blockDim.x)
        if (static_cast<double>(drn::segment_iou(s, e, start[j], end[j])) > thr) removed[j] = 1;
      __syncthreads();
    }
    __syncthreads();  // the next run overwrites the shared arrays
  }
}

// Large runs, described by four arrays of `large_runs` entries: the run's first position in the
// sorted order, its size, where its mask starts (in words), and the running total of its tiles.
struct LargeRuns {
  const int64_t* first;
  const int64_t* count;
  const int64_t* mask_offset;
  const int64_t* tile_end;
  int64_t size;
};

// One block per 64x64 tile (row block, column block) of every large run, tiles numbered run by
// run, row-major. Bit j of word (i, c) says candidate i suppresses candidate 64c + j; only tiles
// with c >= the row block (pairs i < j) are computed, the only ones the walk reads.
template <typename T>
__global__ void nms_mask_kernel(const T* __restrict__ segs, LargeRuns runs, int64_t tiles, double thr,
                                Word* __restrict__ mask) {
  __shared__ T col_start[kTile], col_end[kTile];
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int64_t lo = 0, hi = runs.size - 1;  // the run holding this tile: the first with tile_end > tile
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (runs.tile_end[mid] > tile) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    const int64_t count = runs.count[lo], words = (count + kTile - 1) / kTile;
    const int64_t local = tile - (runs.tile_end[lo] - words * words);
    const int64_t row_block = local / words, col_block = local - row_block * words;
    if (col_block < row_block) continue;  // uniform in the block
    const int64_t first = runs.first[lo];
    const int rows = static_cast<int>(drn::tmin<int64_t>(kTile, count - row_block * kTile));
    const int cols = static_cast<int>(drn::tmin<int64_t>(kTile, count - col_block * kTile));
    __syncthreads();  // the previous tile's readers of col_start / col_end are done
    if (threadIdx.x < cols) {
      const int64_t j = first + col_block * kTile + threadIdx.x;
      col_start[threadIdx.x] = segs[2 * j];
      col_end[threadIdx.x] = segs[2 * j + 1];
    }
    __syncthreads();
    if (threadIdx.x < rows) {
      const int64_t i = row_block * kTile + threadIdx.x;
      const T s = segs[2 * (first + i)], e = segs[2 * (first + i) + 1];
      Word bits = 0;
      for (int j = row_block == col_block ? threadIdx.x + 1 : 0; j < cols; ++j)
        if (static_cast<double>(drn::segment_iou(s, e, col_start[j], col_end[j])) > thr) bits |= Word(1) << j;
      mask[runs.mask_offset[lo] + i * words + col_block] = bits;
    }
  }
}

// One block per large run: greedy over the run's rows in order, with the removed bits of the
// whole run in shared memory (one Word per 64 candidates, dynamic size).
__global__ void nms_walk_kernel(const Word* __restrict__ mask, const int64_t* __restrict__ order, LargeRuns runs,
                                int64_t limit, bool* __restrict__ keep) {
  extern __shared__ Word removed[];
  for (int64_t r = blockIdx.x; r < runs.size; r += gridDim.x) {
    const int64_t count = runs.count[r], first = runs.first[r], words = (count + kTile - 1) / kTile;
    const Word* run_mask = mask + runs.mask_offset[r];
    for (int64_t w = threadIdx.x; w < words; w += blockDim.x) removed[w] = 0;
    int64_t kept = 0;
    bool done = false;
    for (int64_t block = 0; block < words && !done; ++block) {
      __syncthreads();  // removed[block] now holds the bits of every kept row before it
      // This block's removed bits live in a register (the same in every thread); each later word
      // is updated by one thread during this step (w - block - 1 = thread mod blockDim), so no
      // barrier is needed per kept row.
      Word live_removed = removed[block];
      const int rows = static_cast<int>(drn::tmin<int64_t>(kTile, count - block * kTile));
      for (int k = 0; k < rows; ++k) {
        if ((live_removed >> k) & 1) continue;
        const int64_t i = block * kTile + k;
        if (threadIdx.x == 0) keep[order[first + i]] = true;
        if (++kept == limit) {
          done = true;
          break;
        }
        const Word* row = run_mask + i * words;
        live_removed |= row[block];
        for (int64_t w = block + 1 + threadIdx.x; w < words; w += blockDim.x) removed[w] |= row[w];
      }
    }
    __syncthreads();  // the next run resets removed
  }
}

// Runs the bitmask path over every run of kSmallRun < size <= kBitmaskRun (`counts` / `firsts` per run).
template <typename T>
void nms_large_runs(const at::Tensor& sorted_segs, const at::Tensor& order, const at::Tensor& firsts,
                    const at::Tensor& counts, double thr, int64_t limit, at::Tensor& keep) {
  const auto large = at::nonzero((counts > kSmallRun) & (counts <= kBitmaskRun)).squeeze(1);
  if (large.numel() == 0) return;
  const auto host = at::stack({firsts.index_select(0, large), counts.index_select(0, large)}).cpu();
  const int64_t n_large = host.size(1);
  const int64_t* h = host.data_ptr<int64_t>();
  std::vector<int64_t> table(4 * n_large);  // first, count, mask offset, tile end: one array each
  int64_t mask_words = 0, tiles = 0, max_words = 0;
  for (int64_t r = 0; r < n_large; ++r) {
    const int64_t count = h[n_large + r], words = (count + kTile - 1) / kTile;
    table[r] = h[r];
    table[n_large + r] = count;
    table[2 * n_large + r] = mask_words;
    mask_words += count * words;
    tiles += words * words;
    table[3 * n_large + r] = tiles;
    max_words = std::max(max_words, words);
  }
  const auto info = at::from_blob(table.data(), {4 * n_large}, at::kLong).to(order.device());
  const int64_t* p = info.data_ptr<int64_t>();
  const LargeRuns runs{p, p + n_large, p + 2 * n_large, p + 3 * n_large, n_large};
  auto mask = at::empty({mask_words}, order.options());  // int64 storage for the Words
  Word* mask_ptr = reinterpret_cast<Word*>(mask.data_ptr<int64_t>());
  const auto stream = c10::cuda::getCurrentCUDAStream();

  nms_mask_kernel<T><<<static_cast<unsigned>(std::min(tiles, kMaxGrid)), kTile, 0, stream>>>(
      sorted_segs.data_ptr<T>(), runs, tiles, thr, mask_ptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const size_t shared = static_cast<size_t>(max_words) * sizeof(Word);
  if (shared > kDefaultSharedBytes) {
    int device = 0, optin = 0;
    C10_CUDA_CHECK(cudaGetDevice(&device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    DRN_CHECK(shared <= static_cast<size_t>(optin), "batched_temporal_nms: a group of ", max_words * kTile,
              " segments is more than this GPU's kernel can hold (", static_cast<int64_t>(optin) / 8 * kTile,
              "); split it into several groups");
    C10_CUDA_CHECK(cudaFuncSetAttribute(nms_walk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(shared)));
  }
  const int threads = static_cast<int>(std::min<int64_t>(kWalkThreads, round_up(max_words, 32)));
  nms_walk_kernel<<<static_cast<unsigned>(std::min(n_large, kMaxGrid)), threads, shared, stream>>>(
      mask_ptr, order.data_ptr<int64_t>(), runs, limit, keep.data_ptr<bool>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The sparse sweep of one large run of n candidates, rank r = greedy order (score desc, index
// asc). `starts` holds the start of each candidate in start order (+inf for one of non-finite
// length: it meets nothing), `by_start` the rank at each start position. A candidate's
// suppressors are the higher-ranked candidates with IoU > thr; they all start inside
// [iou_window_low, e), and end after s - max_len.
template <typename T>
struct SweepRun {
  const T* segs;           // the run's segments by rank, [n, 2]
  const T* starts;         // by start position, [n]
  const int64_t* by_start;  // rank at each start position, [n]
  int64_t n;
  double thr;
  double max_len;  // the longest finite length in the run
};

template <typename T>
__device__ int64_t first_start_at_least(const T* starts, int64_t n, double x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (static_cast<double>(starts[mid]) < x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// For each start position p: the suppressors of its candidate, counted (edges == nullptr) or
// written at edges + offsets[rank] (int32 ranks, in start order).
template <typename T>
__global__ void sweep_edges_kernel(SweepRun<T> run, int64_t* __restrict__ counts, const int64_t* __restrict__ offsets,
                                   int32_t* __restrict__ edges) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < run.n; p += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = run.by_start[p];
    const T s = run.segs[2 * r], e = run.segs[2 * r + 1];
    int64_t found = 0;
    if (!isinf(static_cast<double>(run.starts[p]))) {
      const double sd = static_cast<double>(s);
      const double low = drn::tmax(drn::iou_window_low(sd, static_cast<double>(e), run.thr), sd - run.max_len);
      const int64_t hi = first_start_at_least(run.starts, run.n, static_cast<double>(e));
      for (int64_t q = first_start_at_least(run.starts, run.n, low); q < hi; ++q) {
        const int64_t j = run.by_start[q];
        if (j >= r) continue;  // only higher-ranked candidates suppress
        if (static_cast<double>(drn::segment_iou(s, e, run.segs[2 * j], run.segs[2 * j + 1])) > run.thr) {
          if (edges != nullptr) edges[offsets[r] + found] = static_cast<int32_t>(j);
          ++found;
        }
      }
    }
    if (edges == nullptr) counts[r] = found;
  }
}

enum SweepState : unsigned char { kUndecided = 0, kKept = 1, kRemoved = 2 };

// One round: a candidate is removed when a suppressor is kept, kept when all are removed. A
// decision depends only on decided (final) states, so rounds may read each other's writes.
__global__ void sweep_round_kernel(const int64_t* __restrict__ offsets, const int32_t* __restrict__ edges, int64_t n,
                                   volatile unsigned char* state) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < n; r += int64_t(gridDim.x) * blockDim.x) {
    if (state[r] != kUndecided) continue;
    bool pending = false, removed = false;
    for (int64_t k = offsets[r]; k < offsets[r + 1] && !removed; ++k) {
      const unsigned char other = state[edges[k]];
      removed = other == kKept;
      pending |= other == kUndecided;
    }
    if (removed) {
      state[r] = kRemoved;
    } else if (!pending) {
      state[r] = kKept;
    }
  }
}

// What the rounds left (long chains of suppression), decided in rank order by one block.
__global__ void sweep_finish_kernel(const int64_t* __restrict__ offsets, const int32_t* __restrict__ edges, int64_t n,
                                    unsigned char* state) {
  for (int64_t r = 0; r < n; ++r) {
    if (state[r] != kUndecided) continue;  // uniform in the block
    bool removed = false;
    for (int64_t k = offsets[r] + threadIdx.x; k < offsets[r + 1]; k += blockDim.x) removed |= state[edges[k]] == kKept;
    removed = __syncthreads_or(removed);
    if (threadIdx.x == 0) state[r] = removed ? kRemoved : kKept;
    __syncthreads();
  }
}

// Greedy NMS of one run of `n` candidates at rank order [first, first + n) of `sorted_segs`,
// marking keep[order[...]] for the kept ones (the first `limit` of them, when limit >= 0).
template <typename T>
void nms_sweep_run(const at::Tensor& sorted_segs, const at::Tensor& order, int64_t first, int64_t n, double thr,
                   int64_t limit, at::Tensor& keep) {
  const auto segs = sorted_segs.narrow(0, first, n).contiguous();
  const auto lengths = segs.select(1, 1) - segs.select(1, 0);
  const auto finite = at::isfinite(lengths);
  const auto keys = at::where(finite, segs.select(1, 0), at::full({}, INFINITY, segs.options()));
  const auto [starts, by_start] = at::sort(keys, /*stable=*/true);
  const double max_len = at::where(finite, lengths, at::zeros_like(lengths)).max().item<double>();
  const SweepRun<T> run{segs.data_ptr<T>(), starts.data_ptr<T>(), by_start.data_ptr<int64_t>(), n, thr, max_len};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto blocks = static_cast<unsigned>(std::min((n + kSweepThreads - 1) / kSweepThreads, kMaxGrid));

  auto counts = at::empty({n}, by_start.options());
  sweep_edges_kernel<T><<<blocks, kSweepThreads, 0, stream>>>(run, counts.data_ptr<int64_t>(), nullptr, nullptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const auto offsets = at::cat({at::zeros({1}, counts.options()), at::cumsum(counts, 0)});
  const int64_t num_edges = offsets[n].item<int64_t>();
  auto edges = at::empty({std::max<int64_t>(num_edges, 1)}, counts.options().dtype(at::kInt));
  sweep_edges_kernel<T><<<blocks, kSweepThreads, 0, stream>>>(run, nullptr, offsets.data_ptr<int64_t>(),
                                                              edges.data_ptr<int32_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  auto state = at::zeros({n}, counts.options().dtype(at::kByte));
  unsigned char* state_ptr = state.data_ptr<unsigned char>();
  for (int round = 0; round < kParallelRounds; round += kRoundsPerCheck) {
    for (int k = 0; k < kRoundsPerCheck; ++k) {
      sweep_round_kernel<<<blocks, kSweepThreads, 0, stream>>>(offsets.data_ptr<int64_t>(), edges.data_ptr<int32_t>(),
                                                               n, state_ptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    if (!(state == kUndecided).any().item<bool>()) break;
  }
  sweep_finish_kernel<<<1, kSweepThreads, 0, stream>>>(offsets.data_ptr<int64_t>(), edges.data_ptr<int32_t>(), n,
                                                       state_ptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  auto kept = state == kKept;
  if (limit >= 0) kept = kept & (at::cumsum(kept, 0) <= limit);
  keep.index_fill_(0, order.narrow(0, first, n).masked_select(kept), true);
}

at::Tensor batched_temporal_nms_cuda(const at::Tensor& segments_in, const at::Tensor& scores_in,
                                     const at::Tensor& groups_in, double iou_threshold, int64_t max_per_group) {
  const char* op = "batched_temporal_nms";
  drn::check_nms_args(segments_in, scores_in, groups_in, iou_threshold, max_per_group);
  const c10::cuda::CUDAGuard guard(segments_in.device());
  const auto segments = segments_in.contiguous();
  const auto scores = scores_in.contiguous();
  const auto groups = groups_in.contiguous();
  const int64_t n = segments.size(0);
  drn::check_ordered(segments, op, "segments");
  const auto nan = at::isnan(scores);
  if (n > 0 && nan.any().item<bool>()) {
    const int64_t i = nan.nonzero().select(1, 0)[0].item<int64_t>();
    DRN_CHECK_VALUE(false, op, ": scores must not be NaN, but scores[", i, "] is NaN");
  }
  if (n == 0 || max_per_group == 0) return at::empty({0}, groups.options());

  // Score descending, ties by index ascending (a stable sort; -0.0 made +0.0 so that they tie, as
  // in the CPU's comparisons), then stably by group: each group a run, in greedy order.
  const auto key = at::where(scores == 0, at::zeros_like(scores), scores);
  const auto by_score = std::get<1>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto by_group = at::sort(groups.index_select(0, by_score), /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto order = by_score.index_select(0, std::get<1>(by_group));
  const auto sorted_segs = segments.index_select(0, order);
  const auto counts = std::get<2>(at::unique_consecutive(std::get<0>(by_group), false, /*return_counts=*/true));
  const auto firsts = at::cumsum(counts, 0) - counts;
  const int64_t runs = counts.size(0);
  const auto extremes = at::stack({at::min(counts), at::max(counts)}).cpu();
  const int64_t min_count = extremes[0].item<int64_t>(), max_count = extremes[1].item<int64_t>();

  auto keep = at::zeros({n}, groups.options().dtype(at::kBool));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(segments.scalar_type(), "batched_temporal_nms_cuda", [&] {
    if (min_count <= kSmallRun) {
      const int capacity = static_cast<int>(std::min(max_count, kSmallRun));
      const int threads = static_cast<int>(std::min<int64_t>(kSmallThreads, round_up(capacity, 32)));
      const size_t shared = static_cast<size_t>(capacity) * (2 * sizeof(scalar_t) + 1);
      nms_small_runs_kernel<scalar_t><<<static_cast<unsigned>(std::min(runs, kMaxGrid)), threads, shared, stream>>>(
          sorted_segs.data_ptr<scalar_t>(), order.data_ptr<int64_t>(), firsts.data_ptr<int64_t>(),
          counts.data_ptr<int64_t>(), runs, capacity, iou_threshold, max_per_group, keep.data_ptr<bool>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    if (max_count > kSmallRun)
      nms_large_runs<scalar_t>(sorted_segs, order, firsts, counts, iou_threshold, max_per_group, keep);
    if (max_count > kBitmaskRun) {
      const auto huge = at::nonzero(counts > kBitmaskRun).squeeze(1);
      const auto host = at::stack({firsts.index_select(0, huge), counts.index_select(0, huge)}).cpu();
      for (int64_t r = 0; r < host.size(1); ++r)
        nms_sweep_run<scalar_t>(sorted_segs, order, host[0][r].item<int64_t>(), host[1][r].item<int64_t>(),
                                iou_threshold, max_per_group, keep);
    }
  });
  // by_score restricted to the kept ids: score descending, ties by index ascending.
  return by_score.masked_select(keep.index_select(0, by_score));
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CUDA, m) { m.impl("batched_temporal_nms", &batched_temporal_nms_cuda); }
