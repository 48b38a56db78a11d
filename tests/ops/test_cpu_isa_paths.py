"""The CPU kernels pick AVX-512, AVX2 or the baseline ISA at run time; the default run covers the
best one this machine has, and this file re-runs the kernel-vs-reference suites on the lower
paths (DRN_CPU_ISA caps the choice) so every compiled path is held to the references."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import drn.ops

HERE = Path(__file__).resolve().parent
SUITES = [
    "test_segment_iou.py", "test_regression_targets.py", "test_iou_loss.py", "test_batched_temporal_nms.py",
    "test_non_finite.py",
]


@pytest.mark.skipif(drn.ops.backend()["ops"]["iou_loss"]["cpu"] != "cpu", reason="needs the compiled CPU kernels")
@pytest.mark.parametrize("isa", ["baseline", "avx2"])
def test_kernels_match_the_references_on_every_isa_path(isa):
    env = dict(os.environ, DRN_CPU_ISA=isa, DRN_REQUIRE_EXT="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *[str(HERE / s) for s in SUITES]]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=HERE.parents[2])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
