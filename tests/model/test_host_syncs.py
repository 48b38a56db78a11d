"""A training step (forward, losses, backward) makes no host sync: nothing in it waits for the device.

No GPU here, so the step runs on the CPU under a dispatch mode that plays the GPU's part: every
tensor is "on the device", the query lengths too (the padded BiLSTM reads no host data), except
what is computed from host tensors alone. A sync is an op
whose result the host must read, or whose output shape depends on values: a scalar read
(.item(), bool(), int(), float()), nonzero, masked_select, boolean-mask indexing, unique, and
.tolist()/.numpy()/.cpu() (watched at the Python level, where they do not dispatch on the CPU).
The counter itself is checked to see each of them.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from drn.model import DRN, drn_losses, query_encoder

aten = torch.ops.aten
SYNC_OPS = {aten._local_scalar_dense.default, aten.nonzero.default, aten.masked_select.default,
            aten.unique_dim.default, aten._unique2.default, aten.unique_consecutive.default,
            aten.repeat_interleave.Tensor}


class HostSyncCounter(TorchDispatchMode):
    """Counts the ops that would make the host wait for the device; `host` tensors are exempt."""

    def __init__(self, host: tuple[torch.Tensor, ...]):
        super().__init__()
        self.host = {t.untyped_storage().data_ptr() for t in host}
        self.syncs: list[str] = []
        self._patched = {}

    def _on_device(self, tensors) -> bool:
        return any(t.untyped_storage().data_ptr() not in self.host for t in tensors)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        boolean_index = func is aten.index.Tensor and any(
            isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in args[1])
        if (func in SYNC_OPS or boolean_index) and self._on_device(inputs):
            self.syncs.append(str(func))
        out = func(*args, **kwargs)
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if inputs and not self._on_device(inputs):  # host in, host out
            self.host.update(t.untyped_storage().data_ptr() for t in outputs)
        return out

    def __enter__(self):
        for name in ("tolist", "numpy", "cpu"):
            original = getattr(torch.Tensor, name)
            self._patched[name] = original

            def watched(tensor, *args, _name=name, _original=original, **kwargs):
                if self._on_device([tensor]):
                    self.syncs.append(f"Tensor.{_name}")
                return _original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, watched)
        return super().__enter__()

    def __exit__(self, *exc):
        for name, original in self._patched.items():
            setattr(torch.Tensor, name, original)
        return super().__exit__(*exc)


def test_the_counter_sees_every_kind_of_sync():
    x = torch.arange(6.0)
    lengths = torch.tensor([3, 2])
    with HostSyncCounter(host=(lengths,)) as counter:
        x.sum().item()
        bool(x.max() > 2)
        x[x > 2]
        torch.nonzero(x)
        x.tolist()
        x.numpy()
        int(lengths.max())  # host data: free
        lengths.tolist()
    assert counter.syncs == ["aten._local_scalar_dense.default", "aten._local_scalar_dense.default",
                             "aten.index.Tensor", "aten.nonzero.default", "Tensor.tolist", "Tensor.numpy"]


# One moment per query ([B, 2]), or several ([B, G, 2], padded: the first num_segments[b] are real).
SINGLE = (torch.tensor([[1.0, 9.0], [0.0, 30.0], [12.5, 20.0], [3.0, 4.0], [25.0, 29.5], [6.0, 18.0]]), None)
MULTI = (torch.tensor([[[1.0, 9.0], [12.0, 20.0], [0.0, 0.0]], [[0.0, 30.0], [0.0, 0.0], [0.0, 0.0]],
                       [[2.0, 4.0], [10.0, 14.0], [22.0, 29.0]], [[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]],
                       [[25.0, 29.5], [5.0, 8.0], [0.0, 0.0]], [[6.0, 18.0], [0.0, 0.0], [0.0, 0.0]]]),
         torch.tensor([2, 1, 3, 1, 2, 1]))


@pytest.mark.parametrize("moments", [SINGLE, MULTI], ids=["one-moment", "multi-moment"])
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_a_training_step_makes_no_host_sync(small_config, make_batch, stage, moments, monkeypatch):
    # Word ids and lengths are device data here: the encoder skips the checks it makes on host data.
    monkeypatch.setattr(query_encoder, "on_host", lambda tensor: False)
    config = small_config()
    torch.manual_seed(0)
    model = DRN(config).set_stage(stage).train()
    features, words, lengths = make_batch(config, 6, lengths=[7, 2, 5, 1, 3, 7])
    segments, num_segments = moments
    durations = torch.full((6,), 30.0)
    with HostSyncCounter(host=()) as counter:
        losses = drn_losses(model(features, words, lengths), segments, durations, config, stage,
                            num_segments=num_segments)
        losses["total"].backward()
    assert counter.syncs == []
    assert torch.isfinite(losses["total"]) and losses["regression"] > 0 or stage == 2
