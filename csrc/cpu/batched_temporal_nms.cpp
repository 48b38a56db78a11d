// batched_temporal_nms on the CPU. Groups are found without a global sort when they arrive
// contiguous (the grounding case: a query's candidates side by side), and processed in parallel.
// Inside a large group the 1-D structure bounds the work: kept segments are held sorted by start,
// and a candidate is compared only with those whose start lies in a window it could overlap.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "../checks.h"
#include "../nms_args.h"
#include "../temporal.h"

namespace {

// Below this size a group compares each candidate with every kept segment.
constexpr int64_t kSmallGroup = 96;

// Element ids laid out group by group (stable), and where each group's run starts.
struct GroupRuns {
  std::vector<int64_t> order;  // empty when the input order already is group by group
  std::vector<int64_t> start;  // runs + 1 offsets
  int64_t id(int64_t pos) const { return order.empty() ? pos : order[pos]; }
};

GroupRuns find_runs(const int64_t* g, int64_t n) {
  GroupRuns runs;
  bool contiguous = true;
  for (int64_t i = 1; i < n && contiguous; ++i) contiguous = g[i] >= g[i - 1];
  if (!contiguous) {
    runs.order.resize(n);
    const auto [lo_it, hi_it] = std::minmax_element(g, g + n);
    const int64_t lo = *lo_it, hi = *hi_it;
    // hi - lo can overflow for extreme ids; the unsigned difference compares safely.
    if (static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) <= static_cast<uint64_t>(2 * n + 1024)) {
      std::vector<int64_t> count(hi - lo + 2, 0);  // a stable counting sort by group id
      for (int64_t i = 0; i < n; ++i) ++count[g[i] - lo + 1];
      for (size_t k = 1; k < count.size(); ++k) count[k] += count[k - 1];
      for (int64_t i = 0; i < n; ++i) runs.order[count[g[i] - lo]++] = i;
    } else {
      std::iota(runs.order.begin(), runs.order.end(), int64_t(0));
      std::stable_sort(runs.order.begin(), runs.order.end(), [g](int64_t a, int64_t b) { return g[a] < g[b]; });
    }
  }
  runs.start.push_back(0);
  for (int64_t pos = 1; pos < n; ++pos)
    if (g[runs.id(pos)] != g[runs.id(pos - 1)]) runs.start.push_back(pos);
  runs.start.push_back(n);
  return runs;
}

template <typename T>
struct Greedy {
  const T* seg;
  const T* score;
  double thr;  // compared in double, as torchvision does, so boundary cases agree
  int64_t limit;  // kept per group; -1 means no limit
  std::vector<int64_t> cand;
  std::vector<T> ks, ke;  // kept segments: in kept order (small groups) or sorted by start (large)

  bool suppressed_small(T s, T e) const {
    for (size_t k = 0; k < ks.size(); ++k)
      if (static_cast<double>(drn::segment_iou(ks[k], ke[k], s, e)) > thr) return true;
    return false;
  }

  // Only kept segments starting in (s - reach, e) can overlap [s, e]; IoU > thr > 0 also needs
  // the kept length below len / thr, so the reach is the smaller of that and the longest kept.
  bool suppressed_window(T s, T e, T longest) const {
    T reach = longest;
    if (thr > 0.0) reach = std::min(reach, static_cast<T>((e - s) / thr * 1.0001));
    auto it = std::lower_bound(ks.begin(), ks.end(), s - reach);
    for (auto k = static_cast<size_t>(it - ks.begin()); k < ks.size() && ks[k] < e; ++k)
      if (static_cast<double>(drn::segment_iou(ks[k], ke[k], s, e)) > thr) return true;
    return false;
  }

  // Runs greedy NMS over one group's ids [first, last); writes the kept ids (best first) to out.
  int64_t run(const GroupRuns& runs, int64_t first, int64_t last, int64_t* out) {
    cand.clear();
    for (int64_t pos = first; pos < last; ++pos) cand.push_back(runs.id(pos));
    const T* sc = score;
    std::sort(cand.begin(), cand.end(), [sc](int64_t a, int64_t b) { return sc[a] > sc[b] || (sc[a] == sc[b] && a < b); });
    ks.clear();
    ke.clear();
    const bool small = static_cast<int64_t>(cand.size()) <= kSmallGroup;
    T longest = T(0);
    int64_t kept = 0;
    for (const int64_t c : cand) {
      if (limit >= 0 && kept >= limit) break;
      const T s = seg[2 * c], e = seg[2 * c + 1];
      if (small ? suppressed_small(s, e) : suppressed_window(s, e, longest)) continue;
      out[kept++] = c;
      if (small) {
        ks.push_back(s);
        ke.push_back(e);
      } else {
        const auto at = std::upper_bound(ks.begin(), ks.end(), s) - ks.begin();
        ks.insert(ks.begin() + at, s);
        ke.insert(ke.begin() + at, e);
        longest = std::max(longest, e - s);
      }
    }
    return kept;
  }
};

// Maps a float to an unsigned integer of the same order, so ids sort by one integer compare.
inline uint32_t ordered_bits(float f) {
  f = f + 0.0f;  // -0.0 -> +0.0: equal scores must tie
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Sorts kept ids by score descending, ties by id ascending.
template <typename T>
void sort_by_score(std::vector<int64_t>& ids, const T* score) {
  std::sort(ids.begin(), ids.end(),
            [score](int64_t a, int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
}

template <>
void sort_by_score<float>(std::vector<int64_t>& ids, const float* score) {
  if (ids.size() >= (size_t(1) << 32)) {
    std::sort(ids.begin(), ids.end(),
              [score](int64_t a, int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
    return;
  }
  std::vector<uint64_t> keys(ids.size());
  for (size_t k = 0; k < ids.size(); ++k)
    keys[k] = (static_cast<uint64_t>(~ordered_bits(score[ids[k]])) << 32) | static_cast<uint64_t>(ids[k]);
  std::sort(keys.begin(), keys.end());
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = static_cast<int64_t>(keys[k] & 0xffffffffu);
}

template <typename T>
at::Tensor nms_impl(const at::Tensor& segments, const at::Tensor& scores, const at::Tensor& groups, double thr,
                    int64_t limit) {
  const int64_t n = segments.size(0);
  const T* seg = segments.data_ptr<T>();
  const T* sc = scores.data_ptr<T>();
  drn::check_ordered_cpu(seg, n, "batched_temporal_nms", "segments");
  for (int64_t i = 0; i < n; ++i)
    TORCH_CHECK_VALUE(!std::isnan(sc[i]), "batched_temporal_nms: scores must not be NaN, but scores[", i, "] is NaN");
  const GroupRuns runs = find_runs(groups.data_ptr<int64_t>(), n);
  const int64_t num_runs = static_cast<int64_t>(runs.start.size()) - 1;
  std::vector<int64_t> slots(n), kept_count(num_runs);
  at::parallel_for(0, num_runs, 64, [&](int64_t lo, int64_t hi) {
    Greedy<T> greedy{seg, sc, thr, limit, {}, {}, {}};
    for (int64_t r = lo; r < hi; ++r)
      kept_count[r] = greedy.run(runs, runs.start[r], runs.start[r + 1], slots.data() + runs.start[r]);
  });
  std::vector<int64_t> keep;
  keep.reserve(n);
  for (int64_t r = 0; r < num_runs; ++r)
    keep.insert(keep.end(), slots.begin() + runs.start[r], slots.begin() + runs.start[r] + kept_count[r]);
  if (num_runs > 1) sort_by_score(keep, sc);
  auto out = at::empty({static_cast<int64_t>(keep.size())}, groups.options());
  std::copy(keep.begin(), keep.end(), out.data_ptr<int64_t>());
  return out;
}

at::Tensor batched_temporal_nms_cpu(const at::Tensor& segments_in, const at::Tensor& scores_in,
                                    const at::Tensor& groups_in, double iou_threshold, int64_t max_per_group) {
  drn::check_nms_args(segments_in, scores_in, groups_in, iou_threshold, max_per_group);
  const auto segments = segments_in.contiguous();
  const auto scores = scores_in.contiguous();
  const auto groups = groups_in.contiguous();
  at::Tensor out;
  AT_DISPATCH_FLOATING_TYPES(segments.scalar_type(), "batched_temporal_nms_cpu", [&] {
    out = nms_impl<scalar_t>(segments, scores, groups, iou_threshold, max_per_group);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) { m.impl("batched_temporal_nms", &batched_temporal_nms_cpu); }
