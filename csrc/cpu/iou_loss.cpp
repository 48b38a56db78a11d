// iou_loss forward and backward on the CPU: one fused, vectorised pass each. Sums are taken over
// fixed-size chunks and combined in order, so the result does not depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "../checks.h"
#include "../iou_loss_args.h"
#include "../temporal.h"
#include "simd.h"

namespace {

constexpr int64_t kChunk = 16384;

// Sum of the (weighted) losses of pairs [lo, hi) and of their weights.
template <typename T, int Type, bool Weighted>
DRN_INLINE void loss_sum(const T* p, const T* t, const T* w, int64_t lo, int64_t hi, T eps, double* loss,
                         double* weight) {
  double ls = 0.0, ws = 0.0;
#pragma omp simd reduction(+ : ls, ws)
  for (int64_t i = lo; i < hi; ++i) {
    const T v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], Type, eps);
    if constexpr (Weighted) {
      ls += static_cast<double>(w[i]) * v;
      ws += static_cast<double>(w[i]);
    } else {
      ls += static_cast<double>(v);
    }
  }
  *loss = ls;
  *weight = Weighted ? ws : static_cast<double>(hi - lo);
}

template <typename T, int Type, bool Weighted>
DRN_INLINE void loss_each(const T* p, const T* t, const T* w, int64_t lo, int64_t hi, T eps, T* out) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const T v = drn::iou_loss_value(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], Type, eps);
    out[i] = Weighted ? w[i] * v : v;
  }
}

// Gradients of pairs [lo, hi): the upstream gradient is g[i] (reduction "none") or `scale`.
template <typename T, int Type, bool Weighted, bool PerPair>
DRN_INLINE void loss_grad(const T* p, const T* t, const T* w, const T* g, T scale, int64_t lo, int64_t hi, T eps,
                          T* gp, T* gt) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    T s = PerPair ? g[i] : scale;
    if constexpr (Weighted) s *= w[i];
    drn::iou_loss_grad(p[2 * i], p[2 * i + 1], t[2 * i], t[2 * i + 1], Type, eps, s, gp + 2 * i, gp + 2 * i + 1,
                       gt + 2 * i, gt + 2 * i + 1);
  }
}

// Calls f(std::integral_constant<int, type>, std::bool_constant<weighted>): the loops see constants.
template <typename F>
void with_constants(int type, bool weighted, const F& f) {
  auto by_weight = [&](auto type_c) {
    if (weighted)
      f(type_c, std::true_type{});
    else
      f(type_c, std::false_type{});
  };
  if (type == drn::kIou)
    by_weight(std::integral_constant<int, drn::kIou>{});
  else if (type == drn::kLinearIou)
    by_weight(std::integral_constant<int, drn::kLinearIou>{});
  else
    by_weight(std::integral_constant<int, drn::kGiou>{});
}

at::Tensor iou_loss_cpu(const at::Tensor& pred_in, const at::Tensor& target_in,
                        const c10::optional<at::Tensor>& weight_in, c10::string_view loss_type,
                        c10::string_view reduction, double eps) {
  const drn::IouLossArgs args(pred_in, target_in, weight_in, loss_type, reduction);
  const auto& pred = args.pred;
  const auto& target = args.target;
  const auto& weight = args.weight;
  const int type = args.type, red = args.reduction;
  const int64_t n = args.pairs;
  at::Tensor out = red == drn::kNone ? at::empty(args.lead, pred.options()) : at::empty({}, pred.options());
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_cpu", [&] {
    using T = scalar_t;
    const T* p = pred.data_ptr<T>();
    const T* t = target.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    const T e = static_cast<T>(eps);
    with_constants(type, w != nullptr, [&](auto type_c, auto weighted_c) {
      constexpr int Type = decltype(type_c)::value;
      constexpr bool Weighted = decltype(weighted_c)::value;
      if (red == drn::kNone) {
        T* o = out.data_ptr<T>();
        at::parallel_for(0, n, kChunk, [&](int64_t lo, int64_t hi) {
          drn::cpu::with_best_isa([&]() __attribute__((always_inline)) {
            loss_each<T, Type, Weighted>(p, t, w, lo, hi, e, o);
          });
        });
        return;
      }
      const int64_t chunks = (n + kChunk - 1) / kChunk;
      std::vector<double> loss_sums(chunks, 0.0), weight_sums(chunks, 0.0);
      at::parallel_for(0, chunks, 1, [&](int64_t c_lo, int64_t c_hi) {
        for (int64_t c = c_lo; c < c_hi; ++c) {
          const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
          drn::cpu::with_best_isa([&]() __attribute__((always_inline)) {
            loss_sum<T, Type, Weighted>(p, t, w, lo, hi, e, &loss_sums[c], &weight_sums[c]);
          });
        }
      });
      double total = 0.0, denom = 0.0;
      for (int64_t c = 0; c < chunks; ++c) {
        total += loss_sums[c];
        denom += weight_sums[c];
      }
      // A mean over nothing (no elements, or all weights zero) is 0, not NaN.
      const double result = red == drn::kSum ? total : (denom != 0.0 ? total / denom : 0.0);
      *out.data_ptr<T>() = static_cast<T>(result);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> iou_loss_backward_cpu(const at::Tensor& grad_in, const at::Tensor& pred_in,
                                                        const at::Tensor& target_in,
                                                        const c10::optional<at::Tensor>& weight_in,
                                                        c10::string_view loss_type, c10::string_view reduction,
                                                        double eps) {
  const drn::IouLossArgs args(pred_in, target_in, weight_in, loss_type, reduction);
  const auto& pred = args.pred;
  const auto& target = args.target;
  const auto& weight = args.weight;
  const int type = args.type, red = args.reduction;
  const int64_t n = args.pairs;
  const auto grad = args.grad(grad_in);
  auto grad_pred = at::empty_like(pred);
  auto grad_target = at::empty_like(target);
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "iou_loss_backward_cpu", [&] {
    using T = scalar_t;
    const T* p = pred.data_ptr<T>();
    const T* t = target.data_ptr<T>();
    const T* w = weight.defined() ? weight.data_ptr<T>() : nullptr;
    const T* g = grad.data_ptr<T>();
    const T e = static_cast<T>(eps);
    T scale = red == drn::kNone ? T(0) : g[0];
    if (red == drn::kMean) {
      const double denom = w ? at::sum(weight, at::kDouble).item<double>() : static_cast<double>(n);
      scale = denom != 0.0 ? static_cast<T>(g[0] / denom) : T(0);
    }
    T* gp = grad_pred.data_ptr<T>();
    T* gt = grad_target.data_ptr<T>();
    with_constants(type, w != nullptr, [&](auto type_c, auto weighted_c) {
      constexpr int Type = decltype(type_c)::value;
      constexpr bool Weighted = decltype(weighted_c)::value;
      at::parallel_for(0, n, kChunk, [&](int64_t lo, int64_t hi) {
        drn::cpu::with_best_isa([&]() __attribute__((always_inline)) {
          if (red == drn::kNone)
            loss_grad<T, Type, Weighted, true>(p, t, w, g, scale, lo, hi, e, gp, gt);
          else
            loss_grad<T, Type, Weighted, false>(p, t, w, g, scale, lo, hi, e, gp, gt);
        });
      });
    });
  });
  return {grad_pred, grad_target};
}

}  // namespace

TORCH_LIBRARY_IMPL(drn, CPU, m) {
  m.impl("iou_loss", &iou_loss_cpu);
  m.impl("iou_loss_backward", &iou_loss_backward_cpu);
}
