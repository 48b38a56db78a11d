"""`drn serve` user errors: one line `drn serve: error: ...`, exit status 2, nothing left behind.

Two cases run the real command in a subprocess; the rest call the same entry point in-process
(`drn.cli.main`), which is what the subprocess runs, to keep the suite fast on a busy machine.
"""

from __future__ import annotations

import json
import socket
import tempfile
import urllib.request
from pathlib import Path

import pytest

from drn.cli import main
from tests.helpers.cli import run_cli
from tests.serve.server import serve_process


def assert_one_line(status: int, stderr: str, *parts: str) -> None:
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("drn serve: error: ")
    for part in parts:
        assert part in lines[0], lines[0]


def serve_in_process(capsys, *args: str) -> tuple[int, str]:
    status = main(["serve", *map(str, args)])
    return status, capsys.readouterr().err


@pytest.mark.slow
def test_bad_checkpoint_in_a_subprocess(tmp_path):
    import torch

    fake = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, fake)
    result = run_cli("serve", str(fake), "--port", "0")
    assert_one_line(result.returncode, result.stderr, str(fake), "is not a drn checkpoint")
    assert result.stdout == ""


@pytest.mark.slow
def test_port_in_use_in_a_subprocess(checkpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", str(checkpoint), "--port", str(port))
    assert_one_line(result.returncode, result.stderr, f"--port {port}", "is in use")


def test_missing_checkpoint(capsys, tmp_path):
    assert_one_line(*serve_in_process(capsys, tmp_path / "missing.pt", "--port", "0"), "missing.pt", "no such file")


@pytest.mark.parametrize("option", ["--videos", "--features"])
def test_folder_options_that_are_not_folders(capsys, checkpoint, tmp_path, option):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert_one_line(*serve_in_process(capsys, checkpoint, option, a_file), f"{option} {a_file}", "is not a folder")
    assert_one_line(*serve_in_process(capsys, checkpoint, option, tmp_path / "nope"), "does not exist")


def test_features_folder_without_index_or_of_another_width(capsys, checkpoint, tmp_path):
    from tests.helpers.checkpoints import features_folder

    uploads_before = set(Path(tempfile.gettempdir()).glob("drn-serve-*"))
    assert_one_line(*serve_in_process(capsys, checkpoint, "--features", tmp_path, "--port", "0"), "no extract.json")
    wide = features_folder(tmp_path / "wide", {"a": 5.0}, feature_dim=32)
    assert_one_line(*serve_in_process(capsys, checkpoint, "--features", wide, "--port", "0"),
                    "its features are 32-d", "takes D = 16")
    # The refused starts left no upload folder behind.
    assert set(Path(tempfile.gettempdir()).glob("drn-serve-*")) == uploads_before


@pytest.mark.parametrize("args, message", [(["--port", "70000"], "--port must be in 0..65535"),
                                           (["--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
                                           (["--max-duration", "-1"], "--max-duration must be > 0"),
                                           (["--max-queries", "0"], "--max-queries must be >= 1"),
                                           (["--host", "192.0.2.77", "--port", "0"], "cannot be bound")])
def test_bad_limits_and_addresses(capsys, checkpoint, args, message):
    assert_one_line(*serve_in_process(capsys, checkpoint, *args), message)


def raw_get(url: str, hosts: list[str]) -> tuple[bytes, bytes]:
    """GET /api/info with these Host headers (none, one, several), as raw HTTP/1.1: (head, body)."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        lines = "".join(f"Host: {host}\r\n" for host in hosts)
        connection.sendall(f"GET /api/info HTTP/1.1\r\n{lines}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_ends_quietly_in_one_line(checkpoint, features_dir, workers):
    import json
    import urllib.request

    with serve_process(str(checkpoint), "--features", str(features_dir), "--workers", str(workers)) as served:
        with urllib.request.urlopen(f"{served.url}/api/videos") as response:
            video = json.load(response)["videos"][0]["id"]
        body = json.dumps({"video": video, "queries": ["a person opens the door"]}).encode()
        ask = urllib.request.Request(f"{served.url}/api/predict", data=body,
                                     headers={"Content-Type": "application/json"})
        for _ in range(3):  # with two workers, likely both answer
            with urllib.request.urlopen(ask) as response:
                assert response.status == 200 and json.load(response)["predictions"]
        # Host headers a loopback server refuses, also those uvicorn's parser refuses: JSON too.
        for hosts in (["evil.example"], [], ["evil.example", "127.0.0.1"]):
            head, body = raw_get(served.url, hosts)
            assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
            assert list(json.loads(body)) == ["error"]
        status, stderr = served.interrupt()
    assert status == 130
    assert stderr.strip().splitlines() == ["drn serve: stopped"]


@pytest.mark.parametrize("args, message", [(["--batch-window-ms", "-1"], "--batch-window-ms must be in 0..1000"),
                                           (["--queue-size", "5"], "--queue-size (5) must hold one request of "
                                                                   "--max-queries (10) sentences"),
                                           (["--max-batch", "0"], "--max-batch must be >= 1"),
                                           (["--encoding-cache-mb", "0"], "--encoding-cache-mb must be > 0")])
def test_bad_batching_options(capsys, checkpoint, args, message):
    assert_one_line(*serve_in_process(capsys, checkpoint, *args), message)


@pytest.mark.parametrize("args, batched", [((), True), (("--precision", "bf16"), False),
                                           (("--set", "eval.precision=fp32"), True)])
def test_serve_batches_in_fp32_unless_another_precision_is_asked(checkpoint, features_dir, args, batched):
    with serve_process(str(checkpoint), "--features", str(features_dir), *args) as served:
        with urllib.request.urlopen(f"{served.url}/api/info", timeout=10) as response:
            info = json.load(response)
    assert (info["batching"]["window_ms"] > 0) == batched
