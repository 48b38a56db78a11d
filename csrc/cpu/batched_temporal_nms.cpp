// batched_temporal_nms on the CPU. Groups are found without a global sort when they arrive
// contiguous (the grounding case: a query's candidates side by side), and processed in parallel.
// A small group tests each candidate against its kept segments in vectorised blocks. A large group
// is a sweep over the segments sorted by start: a candidate is compared only with the kept
// segments that overlap it, so sparse proposals cost O(N log N), not O(N^2).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "../checks.h"
#include "../nms_args.h"
#include "../temporal.h"
#include "simd.h"

namespace {

// Up to this size a group tests each candidate against every kept segment, in kept (score) order,
// which finds a suppressor early; larger groups use the sweep over kept segments sorted by start.
constexpr int64_t kSmallGroup = 256;

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

// The threshold in the kernel's dtype such that iou > it exactly when double(iou) > thr (torchvision
// compares in double): for float, the largest float not above thr.
template <typename T>
T threshold_in(double thr) {
  T t = static_cast<T>(thr);
  if (static_cast<double>(t) > thr) t = std::nextafter(t, -std::numeric_limits<T>::infinity());
  return t;
}

// Whether any kept segment k in [lo, hi) has IoU > thr with [s, e]; blocks of 16, early exit.
template <typename T>
DRN_INLINE bool any_above(const T* ks, const T* ke, int64_t lo, int64_t hi, T s, T e, T thr) {
  constexpr int64_t kBlock = 16;
  int64_t k = lo;
  for (; k + kBlock <= hi; k += kBlock) {
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (int64_t j = 0; j < kBlock; ++j) hit |= drn::segment_iou(ks[k + j], ke[k + j], s, e) > thr;
    if (hit) return true;
  }
  int hit = 0;
  for (; k < hi; ++k) hit |= drn::segment_iou(ks[k], ke[k], s, e) > thr;
  return hit != 0;
}

// Maps a float to an unsigned integer of the same order, so ids sort by one integer compare.
inline uint32_t ordered_bits(float f) {
  f = f + 0.0f;  // -0.0 -> +0.0: equal scores must tie
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Ascending packed keys order ids by score descending, then by the low 32 bits ascending.
inline uint64_t score_key(float score, uint64_t low) {
  return (static_cast<uint64_t>(~ordered_bits(score)) << 32) | low;
}

template <typename T>
void sort_by_score_compare(std::vector<int64_t>& ids, const T* score) {
  std::sort(ids.begin(), ids.end(),
            [score](int64_t a, int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
}

// Sorts 64-bit keys ascending: an LSD radix sort, 11 bits a pass, skipping the digits every key
// shares (tmp is scratch space).
inline void radix_sort(std::vector<uint64_t>& a, std::vector<uint64_t>& tmp) {
  const size_t n = a.size();
  if (n < 2) return;
  tmp.resize(n);
  constexpr int kBits = 11, kDigits = (64 + kBits - 1) / kBits;
  constexpr uint64_t kMask = (uint64_t(1) << kBits) - 1;
  std::vector<uint32_t> hist(size_t(kDigits) << kBits, 0);
  for (const uint64_t key : a)
    for (int d = 0; d < kDigits; ++d) ++hist[(size_t(d) << kBits) + ((key >> (d * kBits)) & kMask)];
  for (int d = 0; d < kDigits; ++d) {
    uint32_t* h = hist.data() + (size_t(d) << kBits);
    if (h[(a[0] >> (d * kBits)) & kMask] == n) continue;  // every key has this digit
    uint32_t sum = 0;
    for (uint64_t v = 0; v <= kMask; ++v) {
      const uint32_t c = h[v];
      h[v] = sum;
      sum += c;
    }
    for (const uint64_t key : a) tmp[h[(key >> (d * kBits)) & kMask]++] = key;
    a.swap(tmp);
  }
}

// The ends of the kept segments of a large group, at their candidates' ranks by start (-inf where
// none is kept), under a 64-ary tree of block maxima: finding the nearest kept rank below or above
// r whose end exceeds x costs a few 64-entry scans, however many segments lie in between.
template <typename T>
struct KeptByStart {
  static constexpr int kFan = 64;
  std::vector<std::vector<T>> level;  // level[0][p]: the end at rank p; level[l + 1]: maxima of 64

  void reset(int64_t n) {
    const T none = -std::numeric_limits<T>::infinity();
    int64_t size = std::max<int64_t>(n, 1);
    size_t l = 0;
    for (;; ++l) {
      const int64_t padded = (size + kFan - 1) / kFan * kFan;
      if (level.size() <= l) level.emplace_back();
      level[l].assign(padded, none);
      if (padded == kFan) break;
      size = padded / kFan;
    }
    level.resize(l + 1);
  }

  void set(int64_t p, T end) {
    for (auto& a : level) {
      if (!(end > a[p])) return;  // the maxima above already hold at least this much
      a[p] = end;
      p /= kFan;
    }
  }

  // The largest rank below r with end > x, or -1.
  int64_t prev_above(int64_t r, T x) const {
    int64_t p = r - 1;
    size_t l = 0;
    while (p >= 0) {
      const T* a = level[l].data();
      const int64_t lo = p & ~int64_t(kFan - 1);
      while (p >= lo && !(a[p] > x)) --p;
      if (p >= lo) {
        if (l == 0) return p;
        --l;  // the block below p holds it: scan that block from its end
        p = p * kFan + kFan - 1;
      } else {
        if (++l == level.size()) return -1;
        p = lo / kFan - 1;
      }
    }
    return -1;
  }

  // The smallest rank above r with end > x, or a rank past the last one.
  int64_t next_above(int64_t r, T x) const {
    int64_t p = r + 1;
    size_t l = 0;
    for (;;) {
      const T* a = level[l].data();
      const int64_t size = static_cast<int64_t>(level[l].size());
      if (p >= size) return std::numeric_limits<int64_t>::max();
      const int64_t hi = (p | int64_t(kFan - 1)) + 1;
      while (p < hi && !(a[p] > x)) ++p;
      if (p < hi) {
        if (l == 0) return p;
        --l;
        p = p * kFan;
      } else {
        if (++l == level.size()) return std::numeric_limits<int64_t>::max();
        p = hi / kFan;
      }
    }
  }
};

template <typename T>
struct Greedy {
  const T* seg;
  const T* score;
  T thr;          // see threshold_in
  double thr_d;   // the same threshold, for the sweep's length bound
  int64_t limit;  // kept per group; -1 means no limit
  std::vector<int64_t> cand;
  std::vector<uint64_t> keys, scratch;  // sort keys (float scores or starts) and radix scratch
  std::vector<T> ks, ke;  // small groups: the kept segments, in kept order
  // Large groups: candidates by start (c indexes cand), each candidate's rank in that order (-1:
  // it meets nothing), the segments by rank, and the kept ones' ends.
  std::vector<int64_t> by_start;
  std::vector<int64_t> rank;
  std::vector<T> rs, re;
  KeptByStart<T> kept_ends;

  // The group's ids, best first: score descending, ties by id ascending.
  void order(const GroupRuns& runs, int64_t first, int64_t last) {
    const int64_t n = last - first;
    cand.resize(n);
    if constexpr (std::is_same_v<T, float>) {
      if (n < (int64_t(1) << 32)) {  // positions grow with ids inside a run: they break ties like ids
        keys.resize(n);
        for (int64_t k = 0; k < n; ++k) keys[k] = score_key(score[runs.id(first + k)], static_cast<uint64_t>(k));
        if (n > kSmallGroup)
          radix_sort(keys, scratch);
        else
          std::sort(keys.begin(), keys.end());
        for (int64_t k = 0; k < n; ++k) cand[k] = runs.id(first + static_cast<int64_t>(keys[k] & 0xffffffffu));
        return;
      }
    }
    for (int64_t k = 0; k < n; ++k) cand[k] = runs.id(first + k);
    sort_by_score_compare(cand, score);
  }

  // Runs greedy NMS over one group's positions [first, last); writes the kept ids (best first) to out.
  int64_t run(const GroupRuns& runs, int64_t first, int64_t last, int64_t* out) {
    const int64_t n = last - first;
    order(runs, first, last);
    ks.clear();
    ke.clear();
    const int64_t cap = limit >= 0 ? std::min(limit, n) : n;
    int64_t kept = 0;
    if (n <= kSmallGroup) {
      ks.resize(cap);
      ke.resize(cap);
      drn::cpu::with_best_isa([&]() __attribute__((always_inline)) {
        for (int64_t c = 0; c < n && kept < cap; ++c) {
          const int64_t id = cand[c];
          const T s = seg[2 * id], e = seg[2 * id + 1];
          if (any_above(ks.data(), ke.data(), 0, kept, s, e, thr)) continue;
          ks[kept] = s;
          ke[kept] = e;
          out[kept++] = id;
        }
      });
      return kept;
    }
    return sweep(n, cap, out);
  }

  // Fills by_start with the candidates (indices into cand) of finite length, by start ascending;
  // returns their count. A NaN or infinite coordinate (or a length past the dtype's range) makes
  // the length non-finite, and then IoU is 0 with every segment: such a candidate meets nothing.
  int64_t order_by_start(int64_t n) {
    by_start.clear();
    if constexpr (std::is_same_v<T, float>) {
      if (n < (int64_t(1) << 32)) {  // one integer sort of (start, candidate) packed keys
        keys.clear();
        for (int64_t c = 0; c < n; ++c) {
          const T s = seg[2 * cand[c]], e = seg[2 * cand[c] + 1];
          if (std::isfinite(e - s)) keys.push_back((static_cast<uint64_t>(ordered_bits(s)) << 32) | uint64_t(c));
        }
        radix_sort(keys, scratch);
        by_start.resize(keys.size());
        for (size_t p = 0; p < keys.size(); ++p) by_start[p] = static_cast<int64_t>(keys[p] & 0xffffffffu);
        return static_cast<int64_t>(by_start.size());
      }
    }
    for (int64_t c = 0; c < n; ++c) {
      const T s = seg[2 * cand[c]], e = seg[2 * cand[c] + 1];
      if (std::isfinite(e - s)) by_start.push_back(c);
    }
    std::sort(by_start.begin(), by_start.end(),
              [this](int64_t a, int64_t b) { return seg[2 * cand[a]] < seg[2 * cand[b]]; });
    return static_cast<int64_t>(by_start.size());
  }

  // Greedy over a large group with the kept segments indexed by start: candidate c is compared
  // only with kept segments that overlap it (end > s and start < e), found through KeptByStart.
  // Every pair it skips has overlap <= 0, so IoU 0, and the keep list is the all-pairs one.
  int64_t sweep(int64_t n, int64_t cap, int64_t* out) {
    const int64_t m = order_by_start(n);
    rs.resize(m);
    re.resize(m);
    rank.assign(n, -1);
    for (int64_t p = 0; p < m; ++p) {
      const int64_t c = by_start[p];
      rank[c] = p;
      rs[p] = seg[2 * cand[c]];
      re[p] = seg[2 * cand[c] + 1];
    }
    kept_ends.reset(m);
    int64_t kept = 0;
    for (int64_t c = 0; c < n && kept < cap; ++c) {
      const int64_t r = rank[c];
      if (r >= 0) {
        const T s = rs[r], e = re[r];
        // Kept segments starting before this cannot reach IoU > thr with [s, e] (drn::iou_window_low).
        const double lowest = drn::iou_window_low(static_cast<double>(s), static_cast<double>(e), thr_d);
        bool hit = false;
        // Kept segments starting at or before s that end after it, then those starting in [s, e).
        for (int64_t p = r; !hit && (p = kept_ends.prev_above(p, s)) >= 0 && static_cast<double>(rs[p]) >= lowest;)
          hit = drn::segment_iou(rs[p], re[p], s, e) > thr;
        for (int64_t p = r; !hit && (p = kept_ends.next_above(p, s)) < m && rs[p] < e;)
          hit = drn::segment_iou(rs[p], re[p], s, e) > thr;
        if (hit) continue;
        kept_ends.set(r, e);
      }
      out[kept++] = cand[c];
    }
    return kept;
  }
};

// Sorts distinct ids below 2^32 by score descending, ties by id ascending (radix sort of packed keys).
void sort_by_score_radix(std::vector<int64_t>& ids, const float* score) {
  const size_t n = ids.size();
  std::vector<uint64_t> a(n), tmp;
  for (size_t k = 0; k < n; ++k) a[k] = score_key(score[ids[k]], static_cast<uint64_t>(ids[k]));
  radix_sort(a, tmp);
  for (size_t k = 0; k < n; ++k) ids[k] = static_cast<int64_t>(a[k] & 0xffffffffu);
}

template <typename T>
at::Tensor nms_impl(const at::Tensor& segments, const at::Tensor& scores, const at::Tensor& groups, double thr,
                    int64_t limit) {
  const int64_t n = segments.size(0);
  const T* seg = segments.data_ptr<T>();
  const T* sc = scores.data_ptr<T>();
  drn::check_ordered_cpu(seg, n, "batched_temporal_nms", "segments");
  for (int64_t i = 0; i < n; ++i)
    DRN_CHECK_VALUE(!std::isnan(sc[i]), "batched_temporal_nms: scores must not be NaN, but scores[", i, "] is NaN");
  const GroupRuns runs = find_runs(groups.data_ptr<int64_t>(), n);
  const int64_t num_runs = static_cast<int64_t>(runs.start.size()) - 1;
  std::vector<int64_t> slots(n), kept_count(num_runs);
  // About 2,000 candidates per task: small enough to balance two threads, big enough to amortise.
  const int64_t grain = std::max<int64_t>(1, 2048 * num_runs / std::max<int64_t>(n, 1));
  at::parallel_for(0, num_runs, grain, [&](int64_t lo, int64_t hi) {
    Greedy<T> greedy{seg, sc, threshold_in<T>(thr), thr, limit};
    for (int64_t r = lo; r < hi; ++r)
      kept_count[r] = greedy.run(runs, runs.start[r], runs.start[r + 1], slots.data() + runs.start[r]);
  });
  std::vector<int64_t> keep;
  keep.reserve(std::accumulate(kept_count.begin(), kept_count.end(), int64_t(0)));
  for (int64_t r = 0; r < num_runs; ++r)
    keep.insert(keep.end(), slots.begin() + runs.start[r], slots.begin() + runs.start[r] + kept_count[r]);
  if (num_runs > 1) {
    if constexpr (std::is_same_v<T, float>) {
      if (n < (int64_t(1) << 32))
        sort_by_score_radix(keep, sc);
      else
        sort_by_score_compare(keep, sc);
    } else {
      sort_by_score_compare(keep, sc);
    }
  }
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
