// Validation of batched_temporal_nms' arguments, shared by the CPU and CUDA entry points.
#pragma once

#include <ATen/ATen.h>

#include "checks.h"

namespace drn {
// Internal linkage: every translation unit (C++ or nvcc-compiled) keeps its own copy, so the
// linker never merges host code built by different compilers and flags into one definition.
namespace {

inline void check_nms_args(const at::Tensor& segments, const at::Tensor& scores, const at::Tensor& groups,
                           double iou_threshold, int64_t max_per_group) {
  const char* op = "batched_temporal_nms";
  check_segments(segments, op, "segments");
  const int64_t n = segments.size(0);
  DRN_CHECK_VALUE(scores.dim() == 1 && scores.size(0) == n, op, ": scores must have shape [N] = [", n,
                  "] (one per segment), got ", shape_str(scores));
  DRN_CHECK_VALUE(groups.dim() == 1 && groups.size(0) == n, op, ": groups must have shape [N] = [", n,
                  "] (one per segment), got ", shape_str(groups));
  check_same(segments, scores, op, "segments", "scores");
  DRN_CHECK_TYPE(groups.scalar_type() == at::kLong, op, ": groups must be int64, got ", groups.scalar_type());
  check_device(segments, groups, op, "segments", "groups");
  DRN_CHECK_VALUE(iou_threshold >= 0.0 && iou_threshold <= 1.0, op, ": iou_threshold must lie in [0, 1], got ",
                  iou_threshold);
  DRN_CHECK_VALUE(max_per_group >= -1, op, ": max_per_group must be -1 (no limit) or >= 0, got ",
                  max_per_group);
}

}  // namespace
}  // namespace drn
