#!/usr/bin/env bash
# One-shot GPU check for a lent H100/H200 (no network): build drn for sm_90, run the CUDA tests
# (ops, model, the compiled step as a CUDA graph, fp16 with a grad scaler), the ops benchmarks (with
# the NMS sweep on one group of a million proposals and the IoU loss against a plain copy) and the
# training step / inference in fp32, bf16, fp16 and bf16 compiled against the official step, with
# their GEMM floors (benchmarks/precision_step.py); print a short table last. Logs go to $OUT (or
# ./gpu_check_out).
# Usage, from the repo root: bash benchmarks/gpu_check.sh
set -u
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" DRN_REQUIRE_EXT=1
status=()

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

# probe NAME CODE: runs CODE (which must raise a RuntimeError/ValueError) in its own process and
# records whether it raised cleanly or the process crashed (a C++ error message with a number
# segfaulted on one torch 2.11 image: these probes tell whether torch's own checks crash too).
probes=()
probe() {
    local name=$1 code=$2 rc verdict
    timeout 60 python - >"$OUT/probe_$name.txt" 2>&1 <<PY
import sys, torch
try:
    $code
except (RuntimeError, ValueError, TypeError) as e:
    print("raised", type(e).__name__ + ":", str(e).splitlines()[0][:100])
    sys.exit(0)
print("no error raised")
sys.exit(3)
PY
    rc=$?
    if [ $rc -eq 0 ]; then verdict="ok, $(tail -1 "$OUT/probe_$name.txt")"
    elif [ $rc -gt 128 ] && [ $rc -ne 124 ]; then verdict="CRASHED (signal $((rc - 128)))"
    else verdict="failed rc=$rc: $(tail -1 "$OUT/probe_$name.txt" | cut -c1-100)"; fi
    probes+=("probe $name: $verdict")
    echo "probe $name: $verdict"
}
# torch's own numeric check, before drn is even built.
probe torch_view "torch.zeros(3).view(5)"
probe torch_view_cuda "torch.zeros(3, device='cuda').view(5)"

t0=$(date +%s)
MAX_JOBS=16 timeout 150 python -m pip install --no-build-isolation --no-deps -e . >"$OUT/build.log" 2>&1
rc=$?; status+=("build rc=$rc ($(( $(date +%s) - t0 ))s)")
if [ $rc -ne 0 ]; then tail -30 "$OUT/build.log"; printf '%s\n' "${status[@]}"; exit 1; fi
python -m drn.cli info | tee "$OUT/info.txt"

# drn's kernel checks, each in its own process: messages with numbers (CPU and CUDA), one without.
import_drn="import drn.ops"
probe drn_number_cpu "$import_drn; torch.ops.drn.segment_iou(torch.zeros(3, 2), torch.zeros(4, 2), True)"
probe drn_number_cuda "$import_drn; torch.ops.drn.segment_iou(torch.zeros(3, 2, device='cuda'), torch.zeros(4, 2, device='cuda'), True)"
probe drn_reversed_cuda "$import_drn; torch.ops.drn.segment_iou(torch.tensor([[2.0, 1.0]], device='cuda'), torch.zeros(1, 2, device='cuda'))"
probe drn_text_cpu "$import_drn; torch.ops.drn.iou_loss(torch.zeros(3, 2), torch.zeros(3, 2), None, 'bad', 'mean', 1e-6)"
crashed=$(printf '%s\n' "${probes[@]}" | grep CRASHED | cut -d: -f1 | tr '\n' ' ')
if [ -z "$crashed" ]; then whose="no probe crashed"
elif printf '%s' "$crashed" | grep -q torch_; then whose="torch's own check crashed too ($crashed): the image's torch/libstdc++, not drn"
else whose="only drn's checks crashed ($crashed): drn's bug"; fi
status+=("${probes[@]}" "probe verdict: $whose")

t0=$(date +%s)
timeout 300 python -m pytest tests/ops tests/model tests/engine -m cuda -q -p no:cacheprovider -k "not errors_on_cuda and not opcheck_on_cuda" >"$OUT/tests.log" 2>&1
rc=$?; status+=("CUDA tests rc=$rc ($(( $(date +%s) - t0 ))s): $(tail -1 "$OUT/tests.log")")
timeout 30 python -m pytest tests/ops -m cuda -q -p no:cacheprovider -k "errors_on_cuda or opcheck_on_cuda" >"$OUT/tests_errors.log" 2>&1
rc=$?; status+=("CUDA error/opcheck tests rc=$rc: $(tail -1 "$OUT/tests_errors.log")")
grep -E "^(FAILED|ERROR)" "$OUT/tests.log" "$OUT/tests_errors.log" | head -20

timeout 120 python benchmarks/gpu_bench.py >"$OUT/bench.log" 2>&1
rc=$?; status+=("benchmarks rc=$rc")
timeout 360 python benchmarks/precision_step.py --device cuda --threads 4 --rounds 10 --eval-videos 0 \
    --json "$OUT/precision_step.json" >"$OUT/precision_step.log" 2>&1
rc=$?; status+=("precision step benchmark rc=$rc")
echo "==== summary"
printf '%s\n' "${status[@]}"
echo "==== benchmarks (last lines of $OUT/bench.log)"
tail -16 "$OUT/bench.log"
echo "==== training step and inference (last lines of $OUT/precision_step.log)"
tail -28 "$OUT/precision_step.log"
