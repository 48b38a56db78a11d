"""Parameter count of DRN at its defaults and the time of one training step's forward + backward.

Usage: python benchmarks/model_step.py [--batch 32] [--words 10] [--repeats 5] [--device cpu] [--threads N]
(with drn installed; from an uninstalled checkout prefix PYTHONPATH=.)

The step is forward, the stage-1 losses (matching + regression) and backward, on random features
(T = 32 clips of D = 4096) and random queries; no optimizer update. Prints the median of
`--repeats` timed steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from drn.model.config import DRNConfig
from drn.model.drn import DRN
from drn.model.losses import drn_losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--words", type=int, default=10, help="words per query")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = DRNConfig.published()  # the published DRN, as the official step and earlier figures
    model = DRN(config).to(device).train()
    num_params = sum(p.numel() for p in model.parameters())

    features = torch.randn(args.batch, config.num_clips, config.feature_dim, device=device)
    words = torch.randint(1, config.vocab_size, (args.batch, args.words), device=device)
    lengths = torch.randint(max(1, args.words - 4), args.words + 1, (args.batch,))
    lengths[0] = args.words
    durations = torch.full((args.batch,), 30.0)
    starts = torch.rand(args.batch) * 20.0
    segments = torch.stack([starts, starts + 2.0 + torch.rand(args.batch) * 8.0], dim=1)

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        begin = time.perf_counter()
        model.zero_grad(set_to_none=True)
        losses = drn_losses(model(features, words, lengths), segments.to(device), durations.to(device), config, 1)
        losses["total"].backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - begin

    step()  # warm-up
    times = [step() for _ in range(args.repeats)]
    print(f"parameters: {num_params:,} (T={config.num_clips}, D={config.feature_dim}, vocab={config.vocab_size})")
    print(f"forward+backward, batch {args.batch}, {args.words} words, {device}, {torch.get_num_threads()} threads: "
          f"median {1000 * statistics.median(times):.1f} ms over {args.repeats} runs "
          f"(min {1000 * min(times):.1f}, max {1000 * max(times):.1f})")


if __name__ == "__main__":
    main()
