"""Without the compiled extension: one RuntimeWarning, backend() says "reference" and why, and the
ops still give the right answers; with DRN_REQUIRE_EXT=1 the import fails instead. Each case runs
in a fresh interpreter where `drn._C` cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers.paths import REPO

ROOT = REPO

PROBE = r"""
import json, sys, warnings
sys.modules["drn._C"] = None  # makes `from drn import _C` raise ImportError
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import drn.ops
import torch
seg = torch.tensor([[0.0, 3.0], [1.0, 4.0], [10.0, 12.0]])
pred = torch.tensor([[1.0, 3.0], [1.0, 1.0]], requires_grad=True)
loss = drn.ops.iou_loss(pred, torch.tensor([[2.0, 2.0], [3.0, 3.0]]), loss_type="linear_iou", reduction="sum", eps=0.0)
loss.backward()
targets, positive, assigned = drn.ops.regression_targets(torch.tensor([0.0, 2.0, 3.0]), seg[:1])
print(json.dumps({
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "backend": drn.ops.backend(),
    "has_schema": hasattr(torch.ops.drn, "segment_iou") and torch._C._dispatch_has_kernel_for_dispatch_key("drn::segment_iou", "CPU"),
    "iou": drn.ops.segment_iou(seg, seg).tolist(),
    "keep": drn.ops.batched_temporal_nms(seg, torch.tensor([0.8, 0.9, 0.1]), torch.tensor([0, 0, 0]), 0.4).tolist(),
    "loss": loss.item(),
    "grad": pred.grad.tolist(),
    "targets": targets.tolist(), "assigned": assigned.tolist(),
}))
"""


def _run(require_ext: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DRN_REQUIRE_EXT"}
    if require_ext:
        env["DRN_REQUIRE_EXT"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_fallback_to_references_with_one_warning():
    proc = _run(require_ext=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    runtime = [m for cat, m in out["warnings"] if cat == "RuntimeWarning"]
    assert len(runtime) == 1 and "drn._C" in runtime[0] and "reference" in runtime[0]
    info = out["backend"]
    assert all(impl == {"cpu": "reference", "cuda": "reference"} for impl in info["ops"].values())
    assert "could not be loaded" in info["why"]["cpu"] and info["why"]["cuda"]
    assert info["extension"] is None
    assert not out["has_schema"]
    # The answers, by hand: IoU(0-3, 1-4) = 2/4; NMS keeps 1 (0.9), drops 0 (IoU 0.5 > 0.4), keeps 2.
    assert out["iou"][0] == [1.0, 0.5, 0.0] and out["iou"][2] == [0.0, 0.0, 1.0]
    assert out["keep"] == [1, 2]
    # linear_iou: 1 - 3/5 and 1 - 2/6; gradients (-1/5, 3/25) for l < l*, r > r* and (-1/6, -1/6).
    assert abs(out["loss"] - (0.4 + 2 / 3)) < 1e-6
    expected_grad = [[-1 / 5, 3 / 25], [-1 / 6, -1 / 6]]
    assert all(abs(g - e) < 1e-6 for row, erow in zip(out["grad"], expected_grad) for g, e in zip(row, erow))
    # Points 0 and 3 lie on the ends of (0, 3): negative.
    assert out["targets"] == [[[0.0, 3.0], [2.0, 1.0], [3.0, 0.0]]] and out["assigned"] == [[-1, 0, -1]]


def test_require_ext_turns_fallback_into_import_error():
    proc = _run(require_ext=True)
    assert proc.returncode != 0
    assert "ImportError: DRN_REQUIRE_EXT=1 but the compiled extension drn._C could not be loaded" in proc.stderr
