"""Adam's update in a form `torch.compile` can put in the training step's graph.

`torch.optim.Optimizer.step` breaks the graph on purpose (and `zero_grad` cannot be traced), so a
compiled step calls torch's own functional Adam (`torch.optim.adam.adam`, what `Adam.step` runs)
on the optimizer's parameter groups and state: the same state dict, saved and resumed as always.
Eager, `adam_step` is `optimizer.step()`.
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam


def init_adam_state(optimizer: torch.optim.Adam) -> None:
    """Create the state `Adam.step` would create lazily (step, exp_avg, exp_avg_sq) for every
    parameter that has none, so that a compiled step finds it; a no-op for the others."""
    for group in optimizer.param_groups:
        on_device = group["capturable"] or group["fused"]
        for p in group["params"]:
            state = optimizer.state[p]
            if state:
                continue
            # Where Adam puts `step`: on the parameter's device when capturable or fused, else the host.
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if on_device else "cpu")
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if p.is_cuda:  # fixed addresses: a CUDA graph reads them in place
                for tensor in state.values():
                    torch._dynamo.mark_static_address(tensor)


def adam_step(optimizer: torch.optim.Adam) -> None:
    """One Adam update from the parameters' gradients: `optimizer.step()` eager; inside a compiled
    graph, the functional Adam on the state `init_adam_state` made."""
    if not torch.compiler.is_compiling():
        optimizer.step()
        return
    with torch.no_grad():
        for group in optimizer.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            states = [optimizer.state[p] for p in params]
            beta1, beta2 = group["betas"]
            adam(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                 [s["exp_avg_sq"] for s in states], [s["max_exp_avg_sq"] for s in states if group["amsgrad"]],
                 [s["step"] for s in states], foreach=False, fused=False, capturable=group["capturable"],
                 differentiable=False, amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"],
                 weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                 decoupled_weight_decay=group["decoupled_weight_decay"])
