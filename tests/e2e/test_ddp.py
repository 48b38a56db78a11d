"""The same `drn train` under torchrun: two CPU processes, gloo, on 127.0.0.1."""

from __future__ import annotations

import json
import socket

from drn.data import read_charades_sta
from drn.engine.evaluate import metrics_from_rows
from tests.helpers.cli import run_cli
from tests.helpers.jsonl import read_jsonl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_training_writes_complete_predictions(tiny_config, tiny_data, tmp_path):
    out = tmp_path / "ddp"
    torchrun = ("-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), "-m", "drn.cli")
    result = run_cli("train", str(tiny_config), "--out", str(out), "--set", "train.epochs=[2, 1, 1]",
                     "--set", "train.batch_size=4", module=torchrun, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rank 0 of 2" in result.stderr and "gloo" in result.stderr
    assert result.stdout.count("test metrics") == 1  # rank 0 alone reports

    rows = read_jsonl(out / "predictions.jsonl")
    test_queries, _ = read_charades_sta(tiny_data["test"], tiny_data["durations"])
    assert [row["qid"] for row in rows] == [q.qid for q in test_queries]  # 8 videos' queries: none lost, none twice
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics_from_rows(rows) == metrics  # each R@n, IoU=m from the row's list for m
    assert len((out / "log.csv").read_text().splitlines()) == 1 + 4
