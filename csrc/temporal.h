// Per-element arithmetic of the temporal ops, shared by the CPU and the CUDA kernels so that the
// CPU tests exercise exactly the math the GPU runs. Only the parallel decomposition differs.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DRN_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// Forced, as under nvcc: the CPU kernels' loops vectorise only when this math is inlined into them.
#define DRN_HD inline __attribute__((always_inline))
#else
#define DRN_HD inline
#endif

namespace drn {

template <typename T>
DRN_HD T tmin(T a, T b) { return a < b ? a : b; }

template <typename T>
DRN_HD T tmax(T a, T b) { return a > b ? a : b; }

// IoU of [s1, e1] and [s2, e2] (start <= end): overlap clamped at 0, 0 where the union is 0.
// The union is written len1 + len2 - overlap, the same rounding as torchvision's box IoU.
// Non-finite input: a segment with a NaN or infinite coordinate (or a length past the dtype's range)
// has a non-finite length, so the union is NaN or infinite and the IoU is 0 with every segment.
template <typename T>
DRN_HD T segment_iou(T s1, T e1, T s2, T e2) {
  T inter = tmin(e1, e2) - tmax(s1, s2);
  inter = inter > T(0) ? inter : T(0);
  const T uni = (e1 - s1) + (e2 - s2) - inter;
  return uni > T(0) ? inter / uni : T(0);
}

// The earliest start another segment can have and still reach IoU > thr (thr > 0) with [s, e]:
// IoU > thr needs its length below (e - s) / thr, and an overlap needs it to end after s, so it
// starts after s - (e - s) / thr. In double, with slack for the rounding of both; -inf when
// thr <= 0 (any overlap counts). The NMS sweeps (CPU and CUDA) look no further back than this.
DRN_HD double iou_window_low(double s, double e, double thr) {
  return thr > 0.0 ? s - (e - s) / thr * 1.001 - fabs(s) * 1e-15 : -INFINITY;
}

// One location's regression target for one segment: writes (l, r) = (p - start, end - p) and
// returns whether p lies strictly inside the segment with max(l, r) in [lo, hi].
template <typename T>
DRN_HD bool location_target(T p, T start, T end, T lo, T hi, T* l, T* r) {
  *l = p - start;
  *r = end - p;
  const T reach = tmax(*l, *r);
  return start < p && p < end && lo <= reach && reach <= hi;
}

DRN_HD float tlog(float x) { return logf(x); }
DRN_HD double tlog(double x) { return log(x); }

// Assigns one location to the shortest of `count` segments (start, end pairs at `segs`) that makes
// it positive, ties to the lowest index. Negatives get segment 0's targets and index -1.
template <typename T>
DRN_HD void assign_location(T p, const T* segs, int64_t count, T lo, T hi, T* target, bool* positive,
                            int64_t* assigned) {
  int64_t best = -1;
  T best_len = T(0), best_l = T(0), best_r = T(0);
  for (int64_t g = 0; g < count; ++g) {
    T l, r;
    if (!location_target(p, segs[2 * g], segs[2 * g + 1], lo, hi, &l, &r)) continue;
    const T len = segs[2 * g + 1] - segs[2 * g];
    if (best < 0 || len < best_len) {
      best = g;
      best_len = len;
      best_l = l;
      best_r = r;
    }
  }
  if (best < 0) {
    best_l = p - segs[0];
    best_r = segs[1] - p;
  }
  target[0] = best_l;
  target[1] = best_r;
  *positive = best >= 0;
  *assigned = best;
}

enum IouLossType : int { kIou = 0, kLinearIou = 1, kGiou = 2 };

// d min(a, b) / da as autograd computes it: the gradient is split in half at a tie. Written as
// arithmetic on the comparisons (1, 0.5 or 0, exactly) rather than nested selects: the same values,
// and the CPU loops vectorise it to a few instructions.
template <typename T>
DRN_HD T dmin_da(T a, T b) { return T(a < b) + T(0.5) * T(a == b); }

template <typename T>
DRN_HD T dmax_da(T a, T b) { return T(a > b) + T(0.5) * T(a == b); }

// 1 when l, r, lt, rt are all finite, NaN otherwise (x - x is 0 only for finite x): the losses and
// gradients are multiplied by it, so a pair with a NaN or infinite distance gives NaN, never a
// number that depends on which min/max saw the NaN. The references multiply by the same factor.
template <typename T>
DRN_HD T finite_factor(T l, T r, T lt, T rt) {
  return T(1) + (((l - l) + (r - r)) + ((lt - lt) + (rt - rt)));
}

// Loss of one (l, r) prediction against its target (lt, rt), all distances from one point.
template <typename T>
DRN_HD T iou_loss_value(T l, T r, T lt, T rt, int type, T eps) {
  const T inter = tmin(l, lt) + tmin(r, rt);
  const T uni = (l + r) + (lt + rt) - inter;
  const T iou = (inter + eps) / (uni + eps);
  T loss;
  if (type == kIou) {
    loss = -tlog(iou);
  } else if (type == kLinearIou) {
    loss = T(1) - iou;
  } else {
    const T hull = tmax(l, lt) + tmax(r, rt);
    loss = T(1) - iou + (hull - uni) / (hull + eps);
  }
  return loss * finite_factor(l, r, lt, rt);
}

// Gradient of iou_loss_value, scaled by g, with respect to l, r, lt, rt.
template <typename T>
DRN_HD void iou_loss_grad(T l, T r, T lt, T rt, int type, T eps, T g, T* dl, T* dr, T* dlt, T* drt) {
  const T inter = tmin(l, lt) + tmin(r, rt);
  const T uni = (l + r) + (lt + rt) - inter;
  // dI/dx for x in (l, r, lt, rt); dU/dx = 1 - dI/dx since U = l + r + lt + rt - I.
  const T di[4] = {dmin_da(l, lt), dmin_da(r, rt), dmin_da(lt, l), dmin_da(rt, r)};
  T coef_i, coef_u;  // dLoss = coef_i * dI + coef_u * dU (+ the GIoU hull term)
  if (type == kIou) {
    coef_i = -T(1) / (inter + eps);
    coef_u = T(1) / (uni + eps);
  } else {
    const T iou = (inter + eps) / (uni + eps);
    coef_i = -T(1) / (uni + eps);
    coef_u = iou / (uni + eps);
  }
  T dc[4] = {T(0), T(0), T(0), T(0)};
  T coef_c = T(0);
  if (type == kGiou) {
    const T hull = tmax(l, lt) + tmax(r, rt);
    // penalty (C - U) / (C + eps): dC coefficient (U + eps) / (C + eps)^2, dU coefficient -1 / (C + eps)
    coef_c = (uni + eps) / ((hull + eps) * (hull + eps));
    coef_u -= T(1) / (hull + eps);
    dc[0] = dmax_da(l, lt);
    dc[1] = dmax_da(r, rt);
    dc[2] = dmax_da(lt, l);
    dc[3] = dmax_da(rt, r);
  }
  g = g * finite_factor(l, r, lt, rt);
  T out[4];
  for (int k = 0; k < 4; ++k) out[k] = g * (coef_i * di[k] + coef_u * (T(1) - di[k]) + coef_c * dc[k]);
  *dl = out[0];
  *dr = out[1];
  *dlt = out[2];
  *drt = out[3];
}

}  // namespace drn
