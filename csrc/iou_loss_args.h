// Validation and normalisation of iou_loss / iou_loss_backward arguments, shared by the CPU and
// CUDA entry points: pred/target [..., 2], weight [...]?, the parsed loss type and reduction.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "checks.h"

namespace drn {
// Internal linkage, as in checks.h.
namespace {

struct IouLossArgs {
  at::Tensor pred, target, weight;  // contiguous; weight may be undefined
  int type = 0, reduction = 0;
  int64_t pairs = 0;
  at::IntArrayRef lead;  // pred.shape[:-1]

  IouLossArgs(const at::Tensor& pred_in, const at::Tensor& target_in, const c10::optional<at::Tensor>& weight_in,
              c10::string_view loss_type, c10::string_view reduction_in) {
    check_iou_loss_args(pred_in, target_in, weight_in);
    type = parse_loss_type(std::string(loss_type));
    reduction = parse_reduction(std::string(reduction_in));
    pred = pred_in.contiguous();
    target = target_in.contiguous();
    weight = weight_in.has_value() ? weight_in->contiguous() : at::Tensor();
    pairs = pred.numel() / 2;
    lead = pred.sizes().slice(0, pred.dim() - 1);
  }

  // The incoming gradient of the backward: [...] for reduction "none", one element otherwise;
  // returned contiguous in pred's dtype.
  at::Tensor grad(const at::Tensor& grad_in) const {
    DRN_CHECK_VALUE(reduction == kNone ? grad_in.sizes() == lead : grad_in.numel() == 1,
                    "iou_loss_backward: grad must have shape ", reduction == kNone ? lead : at::IntArrayRef{},
                    ", got ", shape_str(grad_in));
    check_device(pred, grad_in, "iou_loss_backward", "pred", "grad");
    return grad_in.to(pred.scalar_type()).contiguous();
  }
};

}  // namespace
}  // namespace drn
