// Validation and normalisation of regression_targets' arguments, shared by the CPU and CUDA
// entry points: points [T], segments [B, 2] or [B, G, 2], ranges [T, 2]?, num_segments [B]?.
#pragma once

#include <ATen/ATen.h>

#include "checks.h"

namespace drn {
// Internal linkage: every translation unit (C++ or nvcc-compiled) keeps its own copy, so the
// linker never merges host code built by different compilers and flags into one definition.
namespace {

struct RegressionTargetsArgs {
  at::Tensor points, segments, ranges, num_segments;  // contiguous; ranges/num_segments may be undefined
  int64_t batch = 0, per_query = 0, locations = 0;

  RegressionTargetsArgs(const at::Tensor& points_in, const at::Tensor& segments_in,
                        const c10::optional<at::Tensor>& ranges_in,
                        const c10::optional<at::Tensor>& num_segments_in) {
    const char* op = "regression_targets";
    DRN_CHECK_VALUE(points_in.dim() == 1, op, ": points must have shape [T], got ", shape_str(points_in));
    DRN_CHECK_VALUE((segments_in.dim() == 2 || segments_in.dim() == 3) && segments_in.size(-1) == 2, op,
                    ": segments must have shape [B, 2] or [B, G, 2], got ", shape_str(segments_in));
    check_float(segments_in, op, "segments");
    check_same(segments_in, points_in, op, "segments", "points");
    segments = (segments_in.dim() == 2 ? segments_in.unsqueeze(1) : segments_in).contiguous();
    points = points_in.contiguous();
    batch = segments.size(0);
    per_query = segments.size(1);
    locations = points.size(0);
    DRN_CHECK_VALUE(per_query > 0 || batch == 0, op, ": segments needs at least one segment per query, got ",
                    shape_str(segments_in));
    if (ranges_in.has_value()) {
      const auto& r = *ranges_in;
      DRN_CHECK_VALUE(r.dim() == 2 && r.size(0) == locations && r.size(1) == 2, op,
                      ": ranges must have shape [T, 2] = [", locations, ", 2], got ", shape_str(r));
      check_same(segments_in, r, op, "segments", "ranges");
      ranges = r.contiguous();
    }
    if (num_segments_in.has_value()) {
      const auto& c = *num_segments_in;
      DRN_CHECK_VALUE(c.dim() == 1 && c.size(0) == batch, op, ": num_segments must have shape [B] = [", batch,
                      "], got ", shape_str(c));
      DRN_CHECK_TYPE(c.scalar_type() == at::kLong, op, ": num_segments must be int64, got ", c.scalar_type());
      check_device(segments_in, c, op, "segments", "num_segments");
      num_segments = c.contiguous();
      if (batch > 0) {
        const auto lo = num_segments.min().item<int64_t>(), hi = num_segments.max().item<int64_t>();
        DRN_CHECK_VALUE(lo >= 0 && hi <= per_query, op, ": num_segments must lie in [0, G] = [0, ", per_query,
                        "], got values in [", lo, ", ", hi, "]");
      }
    }
  }
};

}  // namespace
}  // namespace drn
