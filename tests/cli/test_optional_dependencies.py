"""A plain `pip install .` has none of the extras (video, serve): the command line still starts,
`drn info` and `drn --help` work, and the commands that need an extra say which in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.cli import USER_ERROR, cli_env

EXTRAS = ("fastapi", "uvicorn", "starlette", "multipart", "av", "open_clip", "torchvision", "PIL")
BLOCKED = f"import sys; [sys.modules.__setitem__(name, None) for name in {EXTRAS!r}]; "


def run_without_extras(*args: str) -> subprocess.CompletedProcess:
    code = BLOCKED + "from drn.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=cli_env(), capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [("--help",), ("info",), ("serve", "--help"), ("extract", "--help")])
def test_the_command_line_starts_without_the_extras(args):
    result = run_without_extras(*args)
    assert result.returncode == 0, result.stderr[-2000:]


def test_serve_without_its_extra_is_one_line_naming_it(tmp_path):
    result = run_without_extras("serve", str(tmp_path / "model.pt"))
    assert result.returncode == USER_ERROR
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'drn[serve]'" in lines[0], result.stderr


@pytest.mark.parametrize("command, extra", [(("extract", "VIDEO", "--backbone", "tiny", "--out", "OUT"), "drn extract"),
                                            (("predict", "CKPT", "--video", "VIDEO", "--query", "a cat"),
                                             "drn predict --video"),
                                            (("demo", "--video", "--out", "OUT"), "drn demo --video")])
def test_video_commands_without_the_video_extra_are_one_line_naming_it(command, extra, trained_run, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded: the check comes first")
    paths = {"VIDEO": str(video), "OUT": str(tmp_path / "out"), "CKPT": str(trained_run / "checkpoints" / "best.pt")}
    result = run_without_extras(*(paths.get(arg, arg) for arg in command))
    assert result.returncode == USER_ERROR, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"drn {command[0]}: error: {extra} needs PyAV and torchvision")
    assert "pip install 'drn[video]'" in lines[-1] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
