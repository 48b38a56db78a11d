// Argument checks shared by every kernel entry point. Each message names the op, the argument,
// what was expected and what came, so a direct torch.ops.drn.* call fails as clearly as the
// Python wrappers do. DRN_CHECK_VALUE / DRN_CHECK_TYPE (message.h) surface as ValueError / TypeError.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "message.h"

namespace drn {
// Internal linkage: every translation unit (C++ or nvcc-compiled) keeps its own copy, so the
// linker never merges host code built by different compilers and flags into one definition.
namespace {

inline std::string shape_str(const at::Tensor& t) { return message(t.sizes()); }

inline void check_float(const at::Tensor& t, const char* op, const char* name) {
  DRN_CHECK_TYPE(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": ", name,
                 " must be float32 or float64 (the Python wrapper upcasts fp16/bf16), got ",
                 t.scalar_type());
}

// A [N, 2] tensor of (start, end) pairs.
inline void check_segments(const at::Tensor& t, const char* op, const char* name) {
  DRN_CHECK_VALUE(t.dim() == 2 && t.size(1) == 2, op, ": ", name,
                  " must have shape [N, 2] of (start, end) pairs, got ", shape_str(t));
  check_float(t, op, name);
}

inline void check_same(const at::Tensor& a, const at::Tensor& b, const char* op, const char* na,
                       const char* nb) {
  DRN_CHECK_VALUE(a.device() == b.device(), op, ": ", na, " and ", nb,
                  " must be on the same device, got ", a.device(), " and ", b.device());
  DRN_CHECK_TYPE(a.scalar_type() == b.scalar_type(), op, ": ", na, " and ", nb,
                 " must have the same dtype, got ", a.scalar_type(), " and ", b.scalar_type());
}

inline void check_device(const at::Tensor& a, const at::Tensor& b, const char* op, const char* na,
                         const char* nb) {
  DRN_CHECK_VALUE(a.device() == b.device(), op, ": ", na, " and ", nb,
                  " must be on the same device, got ", a.device(), " and ", b.device());
}

// Raises when some segment of a contiguous [..., 2] tensor has start > end. Runs on any device.
inline void check_ordered(const at::Tensor& segs, const char* op, const char* name) {
  if (segs.numel() == 0) return;
  const auto flat = segs.reshape({-1, 2});
  const auto bad = at::gt(flat.select(1, 0), flat.select(1, 1));
  if (!bad.any().item<bool>()) return;
  const int64_t i = bad.nonzero().select(1, 0)[0].item<int64_t>();
  DRN_CHECK_VALUE(false, op, ": ", name, " must have start <= end, but segment ", i, " is (",
                  flat[i][0].item<double>(), ", ", flat[i][1].item<double>(), ")");
}

// The same check as check_ordered on raw CPU memory (cheap enough for tiny calls).
template <typename T>
inline void check_ordered_cpu(const T* p, int64_t n, const char* op, const char* name) {
  for (int64_t i = 0; i < n; ++i) {
    DRN_CHECK_VALUE(!(p[2 * i] > p[2 * i + 1]), op, ": ", name,
                    " must have start <= end, but segment ", i, " is (", p[2 * i], ", ",
                    p[2 * i + 1], ")");
  }
}

// segment_iou's a [N, 2] and b [M, 2]; with aligned, N == M.
inline void check_segment_iou_args(const at::Tensor& a, const at::Tensor& b, bool aligned) {
  check_segments(a, "segment_iou", "a");
  check_segments(b, "segment_iou", "b");
  check_same(a, b, "segment_iou", "a", "b");
  DRN_CHECK_VALUE(!aligned || a.size(0) == b.size(0),
                  "segment_iou: aligned=True needs as many segments in a as in b, got ", a.size(0), " and ",
                  b.size(0));
}

// Parsed once per call; the kernels take the enum value.
inline int parse_loss_type(const std::string& s) {
  if (s == "iou") return 0;
  if (s == "linear_iou") return 1;
  if (s == "giou") return 2;
  DRN_CHECK_VALUE(false, "iou_loss: loss_type must be one of 'iou', 'linear_iou', 'giou', got '", s,
                  "'");
  return -1;
}

enum Reduction : int { kNone = 0, kSum = 1, kMean = 2 };

inline int parse_reduction(const std::string& s) {
  if (s == "none") return kNone;
  if (s == "sum") return kSum;
  if (s == "mean") return kMean;
  DRN_CHECK_VALUE(false, "iou_loss: reduction must be one of 'none', 'sum', 'mean', got '", s, "'");
  return -1;
}

// pred/target [..., 2] of one shape and dtype, weight (if any) of shape pred.shape[:-1].
inline void check_iou_loss_args(const at::Tensor& pred, const at::Tensor& target,
                                const c10::optional<at::Tensor>& weight) {
  DRN_CHECK_VALUE(pred.dim() >= 1 && pred.size(-1) == 2,
                  "iou_loss: pred must have shape [..., 2] of (l, r) distances, got ",
                  shape_str(pred));
  DRN_CHECK_VALUE(pred.sizes() == target.sizes(), "iou_loss: target must have the shape of pred ",
                  shape_str(pred), ", got ", shape_str(target));
  check_float(pred, "iou_loss", "pred");
  check_same(pred, target, "iou_loss", "pred", "target");
  if (weight.has_value()) {
    const auto& w = *weight;
    DRN_CHECK_VALUE(w.sizes() == pred.sizes().slice(0, pred.dim() - 1),
                    "iou_loss: weight must have shape pred.shape[:-1] = ",
                    pred.sizes().slice(0, pred.dim() - 1), ", got ", shape_str(w));
    check_same(pred, w, "iou_loss", "pred", "weight");
  }
}

}  // namespace
}  // namespace drn
