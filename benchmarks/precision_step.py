"""Issue 22's benchmark: DRN's training step and inference at its published widths (T = 32, D = 4096,
512-channel FPN, vocabulary 1,302), batch 32, in fp32 and bf16, eager and compiled, against the
official DRN's fp32 step measured in the same run, and the GEMM floor of each (its matmuls and
convolutions alone, at the same precision: benchmarks/gemm_floor.py).

Usage: PYTHONPATH=. python benchmarks/precision_step.py --threads 1 [--rounds 5] [--eval-videos 100]
       [--json OUT.json] [--device cuda]
One thread count per process: inductor's CPU kernels are generated for the thread count of the
process. The paths of a process take turns in every round (the order rotating), so a shared
machine's load weighs on all of them alike; the figures are medians over the rounds.

Training paths: the official-style step (benchmarks/official_step.py: fp32, default Adam),
`training_step` fp32 and bf16 eager (fused Adam; on CUDA also fp16 with a grad scaler), and
`CompiledStep` bf16 (one graph; on CUDA a CUDA graph). CUDA times are taken after a synchronize.
Inference: the forward of 32 queries (one video each) fp32, bf16 with the weights cast once
(`InferencePrecision`) and bf16 compiled (inductor, weights frozen), and the evaluation of the
Charades-STA test annotation (random C3D-sized features: model_workloads) with `predict_dataset`
in fp32 (the evaluation as it ran before this change) and bf16.
Before timing, every path's output is checked: the official losses equal ours in fp32, bf16 and
compiled losses are close to fp32, bf16 predictions are compared with fp32's.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gemm_floor  # noqa: E402
import model_workloads as M  # noqa: E402
from official_step import official_losses, official_step, sorted_by_length  # noqa: E402

from drn.engine.compiled_step import DYNAMO_SETTINGS, CompiledStep  # noqa: E402
from drn.engine.epoch import StepSettings, training_step  # noqa: E402
from drn.engine.evaluate import predict_dataset  # noqa: E402
from drn.model import DRN, DRNConfig, drn_losses  # noqa: E402
from drn.model.precision import InferencePrecision, autocast, cpu_bf16_hardware  # noqa: E402

STAGE = 1  # the official step's stage 1 (matching + regression)


def step_batch(config: DRNConfig, device: torch.device) -> dict[str, torch.Tensor]:
    features, words, lengths, segments, durations = M.training_batch(config)
    batch = {"features": features, "words": words, "lengths": lengths, "windows": segments[:, None],
             "duration": durations, "num_windows": torch.ones(len(lengths), dtype=torch.int64)}
    return {key: value.to(device) for key, value in batch.items()}


class TrainPath:
    """One way of running the training step on its own copy of the model and optimizer."""

    def __init__(self, model: DRN, kind: str, precision: str):
        self.model = copy.deepcopy(model).set_stage(STAGE).train()
        self.kind, self.precision = kind, precision
        device = next(self.model.parameters()).device
        groups = self.model.parameter_groups(STAGE)
        # As drn.engine.train builds it: fused eager, capturable compiled on CUDA; the official one: torch's default.
        self.optimizer = (torch.optim.Adam(groups, lr=1e-3) if kind == "official" else torch.optim.Adam(
            groups, lr=1e-3, fused=kind == "eager", capturable=kind == "compiled" and device.type == "cuda"))
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.step = CompiledStep(device) if kind == "compiled" else training_step
        self.settings = StepSettings(stage=STAGE, grad_clip=0.5, precision=precision)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        if self.kind == "official":
            return official_step(self.model, self.optimizer, sorted_by_length(batch))
        self.optimizer.zero_grad(set_to_none=True)
        return {k: v.item() for k, v in self.step(self.model, self.model, batch, self.optimizer, self.scaler,
                                                    self.settings).items()}


def gemm_calls_of_step(model: DRN, batch: dict[str, torch.Tensor], precision: str) -> list[tuple]:
    """The GEMMs of one eager training step (forward, losses, backward) of `model`'s copy."""
    model = copy.deepcopy(model).set_stage(STAGE).train()

    def step():
        with autocast(batch["features"].device, precision):
            output = model(batch["features"], batch["words"], batch["lengths"])
        drn_losses(output, batch["windows"], batch["duration"], model.config, STAGE,
                   num_segments=batch["num_windows"])["total"].backward()
    return gemm_floor.record_gemms(step)


def compiled_inference(model: DRN, precision: str):
    """The forward of `model` under autocast to `precision`, compiled whole with its weights frozen
    into the graph (inductor folds their casts)."""
    device = next(model.parameters()).device

    def run(features, words, lengths):
        with autocast(device, precision):
            output = model(features, words, lengths)
        return output.match_logits, output.distances, output.iou_logits

    compiled = torch.compile(run, fullgraph=True)

    def call(*args):
        with torch._inductor.config.patch(freezing=True), torch._dynamo.config.patch(**DYNAMO_SETTINGS):
            return compiled(*args)
    return call


def check_training(paths: dict, batch: dict[str, torch.Tensor], model: DRN) -> None:
    fp32 = copy.deepcopy(model).set_stage(STAGE).train()
    ours = drn_losses(fp32(batch["features"], batch["words"], batch["lengths"]), batch["windows"], batch["duration"],
                      fp32.config, STAGE)
    theirs = official_losses(copy.deepcopy(fp32), sorted_by_length(batch))
    for name in ("match", "regression", "total"):
        assert abs(ours[name].item() - theirs[name].item()) <= 1e-4 * abs(ours[name].item()) + 1e-5, \
            (name, ours[name].item(), theirs[name].item())
    first = {name: path(batch) for name, path in paths.items()}  # also compiles
    for name, losses in first.items():
        assert abs(losses["total"] - ours["total"].item()) < 0.05 * ours["total"].item(), (name, losses)


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_rounds(paths: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of each path's call in each round; the paths take turns, the order rotating."""
    names = list(paths)
    seconds = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            synchronize()
            began = time.perf_counter()
            paths[name]()
            synchronize()
            seconds[name].append(time.perf_counter() - began)
    return seconds


def train_paths(model: DRN, batch: dict[str, torch.Tensor], rounds: int) -> dict[str, list[float]]:
    device = batch["features"].device
    paths = {"official fp32": TrainPath(model, "official", "fp32"), "fp32 eager": TrainPath(model, "eager", "fp32"),
             "bf16 eager": TrainPath(model, "eager", "bf16"), "bf16 compiled": TrainPath(model, "compiled", "bf16")}
    if device.type == "cuda":
        paths["fp16 eager"] = TrainPath(model, "eager", "fp16")
    check_training(paths, batch, model)
    floors = {f"GEMM floor {p}": gemm_floor.GemmReplay(gemm_calls_of_step(model, batch, p), device=device)
              for p in ("fp32", "bf16")}
    calls = {name: (lambda path=path: path(batch)) for name, path in paths.items()} | floors
    return timed_rounds(calls, rounds)


def inference_paths(model: DRN, batch: dict[str, torch.Tensor], rounds: int) -> dict[str, list[float]]:
    model = copy.deepcopy(model).set_stage(3).eval()
    device = batch["features"].device
    args = (batch["features"], batch["words"], batch["lengths"])
    bf16 = InferencePrecision(model, "bf16", device)
    compiled = compiled_inference(model, "bf16")
    with torch.no_grad():
        reference = model(*args)
        for output in (bf16(*args).match_logits, compiled(*args)[0]):
            for a, b in zip(output, reference.match_logits):
                assert (a.float() - b).abs().max() < 0.1, "bf16 logits far from fp32"  # bf16: about 3 digits
        floors = {}
        for name, fn in (("fp32", lambda: model(*args)), ("bf16", lambda: bf16(*args))):
            floors[f"forward GEMM floor {name}"] = gemm_floor.GemmReplay(gemm_floor.record_gemms(fn), device=device)
        calls = {"forward fp32 eager": lambda: model(*args), "forward bf16 eager": lambda: bf16(*args),
                 "forward bf16 compiled": lambda: compiled(*args)} | floors
        return timed_rounds(calls, rounds)


def evaluation_paths(videos: int, rounds: int) -> dict[str, list[float]]:
    """predict_dataset over the first `videos` Charades-STA test videos in fp32 and bf16."""
    dataset = M.charades_test_set(videos)
    model = M.eval_model(dataset)
    configs = {name: {**M.EVAL_CFG, "precision": name.split()[1]} for name in ("eval fp32", "eval bf16")}
    rows = {name: predict_dataset(model, dataset, torch.device("cpu"), cfg, use_iou=True)
            for name, cfg in configs.items()}
    same = sum(a["pred_relevant_windows"][:1] == b["pred_relevant_windows"][:1]
               for a, b in zip(rows["eval fp32"], rows["eval bf16"]))
    print(f"evaluation check: {len(dataset)} queries, bf16's top-1 window equals fp32's for {same}")
    calls = {name: (lambda cfg=cfg: predict_dataset(model, dataset, torch.device("cpu"), cfg, use_iou=True))
             for name, cfg in configs.items()}
    return timed_rounds(calls, rounds), len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--eval-videos", type=int, default=100, help="Charades-STA test videos (0: skip)")
    parser.add_argument("--json", type=Path, help="write the timings here")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (a GPU machine: benchmarks/gpu_check.sh)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_bf16_hardware()
    print(f"{args.threads} thread(s); bf16 hardware: {hardware or 'none (bf16 is emulated: expect it slower)'}; "
          f"load average {os.getloadavg()}")
    torch.manual_seed(0)
    config = DRNConfig.published()  # the published DRN, as the official step and earlier figures
    model = DRN(config).to(device)
    batch = step_batch(config, device)
    load = [os.getloadavg()]
    seconds = train_paths(model, batch, args.rounds)
    load.append(os.getloadavg())
    seconds |= inference_paths(model, batch, args.rounds)
    queries = 0
    if args.eval_videos:
        evaluation, queries = evaluation_paths(args.eval_videos, args.rounds)
        seconds |= evaluation
    load.append(os.getloadavg())
    median = {name: statistics.median(times) for name, times in seconds.items()}
    for name, value in median.items():
        print(f"{name:28s} median {value * 1e3:9.1f} ms  (min {min(seconds[name]) * 1e3:.1f}, "
              f"{len(seconds[name])} rounds)")
    ratios = {
        "step: official fp32 / bf16 compiled": median["official fp32"] / median["bf16 compiled"],
        **({"step: official fp32 / fp16 eager": median["official fp32"] / median["fp16 eager"]}
           if "fp16 eager" in median else {}),
        "step: official fp32 / bf16 eager": median["official fp32"] / median["bf16 eager"],
        "step: official fp32 / fp32 eager": median["official fp32"] / median["fp32 eager"],
        "step / floor: fp32 eager": median["fp32 eager"] / median["GEMM floor fp32"],
        "step / floor: bf16 eager": median["bf16 eager"] / median["GEMM floor bf16"],
        "step / floor: bf16 compiled": median["bf16 compiled"] / median["GEMM floor bf16"],
        "forward: fp32 / bf16 eager": median["forward fp32 eager"] / median["forward bf16 eager"],
        "forward: fp32 / bf16 compiled": median["forward fp32 eager"] / median["forward bf16 compiled"],
        "forward / floor: bf16 eager": median["forward bf16 eager"] / median["forward GEMM floor bf16"],
    }
    if queries:
        ratios["eval: fp32 / bf16 (queries/s ratio)"] = median["eval fp32"] / median["eval bf16"]
    for name, value in ratios.items():
        print(f"{name:40s} {value:.2f}x")
    print(f"load average (1, 5, 15 min) at the start, after training, at the end: {load}")
    if args.json:
        record = {"threads": args.threads, "device": str(device), "bf16_hardware": hardware, "torch": torch.__version__,
                  "command": " ".join(sys.argv), "load": load, "eval_queries": queries,
                  "seconds": seconds, "median_s": median, "ratios": ratios}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
