// The drn._C module: every op schema, declared once, plus what the build decided. The kernels
// live in cpu/*.cpp and cuda/*.cu, each registering itself for its dispatch key.
#include <torch/extension.h>
#include <torch/library.h>

#ifndef DRN_TORCH_VERSION
#define DRN_TORCH_VERSION "unknown"
#endif

TORCH_LIBRARY(drn, m) {
  m.def("segment_iou(Tensor a, Tensor b, bool aligned=False) -> Tensor");
  m.def(
      "regression_targets(Tensor points, Tensor segments, Tensor? ranges=None, "
      "Tensor? num_segments=None) -> (Tensor, Tensor, Tensor)");
  m.def(
      "iou_loss(Tensor pred, Tensor target, Tensor? weight, str loss_type, str reduction, "
      "float eps) -> Tensor");
  m.def(
      "iou_loss_backward(Tensor grad, Tensor pred, Tensor target, Tensor? weight, str loss_type, "
      "str reduction, float eps) -> (Tensor, Tensor)");
  m.def(
      "batched_temporal_nms(Tensor segments, Tensor scores, Tensor groups, float iou_threshold, "
      "int max_per_group=-1) -> Tensor");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "drn compiled temporal kernels (registered under torch.ops.drn)";
#ifdef DRN_WITH_CUDA
  m.attr("with_cuda") = true;
  m.attr("cuda_version") = DRN_CUDA_VERSION;
#else
  m.attr("with_cuda") = false;
  m.attr("cuda_version") = py::none();
#endif
  m.attr("torch_version") = DRN_TORCH_VERSION;
}
