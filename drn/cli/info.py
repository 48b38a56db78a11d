"""`drn info`: versions, devices, and which backend serves each op."""

from __future__ import annotations

import json
import platform

import torch


def add_parser(sub):
    p = sub.add_parser("info", help="print versions, devices and which backend serves each op",
                       description="Print the versions of drn, Python and torch, the devices, whether the compiled "
                                   "extension was built with CUDA kernels, and which implementation (compiled CPU, "
                                   "CUDA, or the PyTorch reference) serves each op on each device, and why.")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return p


def collect() -> dict:
    import drn
    import drn.ops

    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    return {
        "drn": drn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cpu_threads": torch.get_num_threads(),
        "devices": devices,
        "backend": drn.ops.backend(),
    }


def run(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"drn {info['drn']}  python {info['python']}  torch {info['torch']} (CUDA {info['torch_cuda'] or 'none'})")
    print(f"devices: {', '.join(info['devices'])}  (cpu threads: {info['cpu_threads']})")
    ext = info["backend"]["extension"]
    if ext:
        print(f"extension: {ext['path']}")
        print(f"  built for torch {ext['torch_version']}, CUDA kernels: {'yes (CUDA ' + ext['cuda_version'] + ')' if ext['with_cuda'] else 'no'}")
    print(f"{'op':<24}{'cpu':<12}cuda")
    for op, impl in info["backend"]["ops"].items():
        print(f"{op:<24}{impl['cpu']:<12}{impl['cuda']}")
    for device, why in info["backend"]["why"].items():
        print(f"{device}: {why}")
    return 0
