#!/usr/bin/env bash
# One-shot GPU check for a lent H100/H200 (no network): build drn for sm_90, run the CUDA tests,
# run the GPU benchmarks, print a short table last. Logs go to $OUT (or ./gpu_check_out).
# Usage, from the repo root: bash benchmarks/gpu_check.sh
set -u
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" DRN_REQUIRE_EXT=1
status=()

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

t0=$(date +%s)
MAX_JOBS=16 timeout 150 python -m pip install --no-build-isolation --no-deps -e . >"$OUT/build.log" 2>&1
rc=$?; status+=("build rc=$rc ($(( $(date +%s) - t0 ))s)")
if [ $rc -ne 0 ]; then tail -30 "$OUT/build.log"; printf '%s\n' "${status[@]}"; exit 1; fi
python -m drn.cli info | tee "$OUT/info.txt"

# Errors raised from the kernels' checks (messages with numbers), in a child process so a crash shows as a code.
timeout 30 python - <<'PY' >"$OUT/errors_probe.txt" 2>&1
import torch, drn.ops
for dev in ("cpu", "cuda"):
    try:
        torch.ops.drn.segment_iou(torch.zeros(3, 2, device=dev), torch.zeros(4, 2, device=dev), True)
    except ValueError as e:
        print(dev, "ValueError ok:", str(e).splitlines()[0][:80])
PY
status+=("error-message probe rc=$? ($(tr '\n' ' ' <"$OUT/errors_probe.txt" | cut -c1-120))")

t0=$(date +%s)
timeout 70 python -m pytest tests/ops tests/model -m cuda -q -p no:cacheprovider -k "not errors_on_cuda and not opcheck_on_cuda" >"$OUT/tests.log" 2>&1
rc=$?; status+=("CUDA tests rc=$rc ($(( $(date +%s) - t0 ))s): $(tail -1 "$OUT/tests.log")")
timeout 30 python -m pytest tests/ops -m cuda -q -p no:cacheprovider -k "errors_on_cuda or opcheck_on_cuda" >"$OUT/tests_errors.log" 2>&1
rc=$?; status+=("CUDA error/opcheck tests rc=$rc: $(tail -1 "$OUT/tests_errors.log")")
grep -E "^(FAILED|ERROR)" "$OUT/tests.log" "$OUT/tests_errors.log" | head -20

timeout 60 python benchmarks/gpu_bench.py >"$OUT/bench.log" 2>&1
rc=$?; status+=("benchmarks rc=$rc")
echo "==== summary"
printf '%s\n' "${status[@]}"
echo "==== benchmarks (last lines of $OUT/bench.log)"
tail -14 "$OUT/bench.log"
