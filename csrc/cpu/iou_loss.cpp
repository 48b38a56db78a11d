// iou_loss forward and backward on the CPU: one fused pass each. Sums are taken over fixed-size
// chunks and combined in order, so the result does not depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "../checks.h"
#include "../temporal.h"

namespace {

constexpr int64_t kChunk = 16384;

at::Tensor iou_loss_cpu(const at::Tensor& pred_in, const at::Tensor& target_in,
                        const c10::optional<at::Tensor>& weight_in, c10::string_view loss_type,
                        c10::string_view reduction, double eps) {
  drn::check_iou_loss_args(pred_in, target_in, weight_in);
  const int type = drn::parse_loss_type(std::string(loss_type));
  const int red = drn::parse_reduction(std::string(reduction));
  const auto pred = pred_in.contiguous();
  const auto target = target_in.contiguous();
  const auto weight = weight_in.has_value() ? weight_in->contiguous() : at::Tensor();
  const int64_t n = pred.numel() / 2;
  const auto lead = pred.sizes().slice(0, pred.dim() - 1);
  at::Tensor out = red == drn::kNone ? at::empty(lead, pred.options()) : at::empty({}, pred.options());
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_cpu", [&] {
    const scalar_t* p = pred.data_ptr<scalar_t>();
    const scalar_t* t = target.data_ptr<scalar_t>();
    const scalar_t* w = weight.defined() ? weight.data_ptr<scalar_t>() : nullptr;
    const scalar_t e = static_cast<scalar_t>(eps);
    if (red == drn::kNone) {
      scalar_t* o = out.data_ptr<scalar_t>();
      at::parallel_for(0, n, kChunk, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          const scalar_t v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, e);
          o[i] = w ? w[i] * v : v;
        }
      });
      return;
    }
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> loss_sum(chunks, 0.0), weight_sum(chunks, 0.0);
    at::parallel_for(0, chunks, 1, [&](int64_t c_lo, int64_t c_hi) {
      for (int64_t c = c_lo; c < c_hi; ++c) {
        double ls = 0.0, ws = 0.0;
        const int64_t end = std::min(n, (c + 1) * kChunk);
        for (int64_t i = c * kChunk; i < end; ++i) {
          const scalar_t v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, e);
          ls += w ? static_cast<double>(w[i]) * v : static_cast<double>(v);
          ws += w ? static_cast<double>(w[i]) : 1.0;
        }
        loss_sum[c] = ls;
        weight_sum[c] = ws;
      }
    });
    double total = 0.0, denom = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      total += loss_sum[c];
      denom += weight_sum[c];
    }
    // A mean over nothing (no elements, or all weights zero) is 0, not NaN.
    const double result = red == drn::kSum ? total : (denom != 0.0 ? total / denom : 0.0);
    out.fill_(result);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> iou_loss_backward_cpu(const at::Tensor& grad_in, const at::Tensor& pred_in,
                                                        const at::Tensor& target_in,
                                                        const c10::optional<at::Tensor>& weight_in,
                                                        c10::string_view loss_type, c10::string_view reduction,
                                                        double eps) {
  drn::check_iou_loss_args(pred_in, target_in, weight_in);
  const int type = drn::parse_loss_type(std::string(loss_type));
  const int red = drn::parse_reduction(std::string(reduction));
  const auto pred = pred_in.contiguous();
  const auto target = target_in.contiguous();
  const auto weight = weight_in.has_value() ? weight_in->contiguous() : at::Tensor();
  const int64_t n = pred.numel() / 2;
  const auto lead = pred.sizes().slice(0, pred.dim() - 1);
  TORCH_CHECK_VALUE(red == drn::kNone ? grad_in.sizes() == lead : grad_in.numel() == 1,
                    "iou_loss_backward: grad must have shape ", red == drn::kNone ? lead : at::IntArrayRef{},
                    ", got ", drn::shape_str(grad_in));
  const auto grad = grad_in.to(pred.scalar_type()).contiguous();
  auto grad_pred = at::empty_like(pred);
  auto grad_target = at::empty_like(target);
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_backward_cpu", [&] {
    const scalar_t* p = pred.data_ptr<scalar_t>();
    const scalar_t* t = target.data_ptr<scalar_t>();
    const scalar_t* w = weight.defined() ? weight.data_ptr<scalar_t>() : nullptr;
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const scalar_t e = static_cast<scalar_t>(eps);
    scalar_t scale = red == drn::kNone ? scalar_t(0) : g[0];
    if (red == drn::kMean) {
      const double denom = w ? at::sum(weight, at::kDouble).item<double>() : static_cast<double>(n);
      scale = denom != 0.0 ? static_cast<scalar_t>(g[0] / denom) : scalar_t(0);
    }
    scalar_t* gp = grad_pred.data_ptr<scalar_t>();
    scalar_t* gt = grad_target.data_ptr<scalar_t>();
    at::parallel_for(0, n, kChunk, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        scalar_t s = red == drn::kNone ? g[i] : scale;
        if (w) s *= w[i];
        drn::iou_loss_grad(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], type, e, s, gp + 2 * i,
                           gp + 2 * i + 1, gt + 2 * i, gt + 2 * i + 1);
      }
    });
  });
  return {grad_pred, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) {
  m.impl("iou_loss", &iou_loss_cpu);
  m.impl("iou_loss_backward", &iou_loss_backward_cpu);
}
