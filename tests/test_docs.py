"""The documentation is true: the site builds with warnings as errors, every Python example runs,
and every shell example either runs here or says why not.

A shell block preceded by `<!-- run -->` is run with bash in a sandbox folder that holds what the
docs' examples start from: `drn_demo/` (a miniature `drn demo`), `configs/` (the repository's),
`data/` (the shared real data, as `ln -s ../shared/data data` makes it), `videos/` (two small
synthetic video files) and `queries.jsonl`. A block preceded by `<!-- not run: REASON -->` is
not run, and says why. Python blocks run unless marked `<!-- not run: REASON -->` too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.paths import REPO, shared_data_dir, shared_file

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- (run|not run: [^>]*?) -->\n)?```(\w+)\n(.*?)```", re.S)


def blocks(page: Path, language: str) -> list[tuple[str | None, str, int]]:
    """(marker, code, line) of each fenced block of `language` on `page`."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        if match.group(2) == language:
            found.append((match.group(1), match.group(3), text.count("\n", 0, match.start(2)) + 1))
    return found


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "ops" / "index.html").is_file()


def test_every_page_is_in_the_site():
    nav = (REPO / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert {page for page in pages if page not in nav} == set()


def test_readme_keeps_to_its_size():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


PYTHON = [(page, code, line) for page in PAGES for marker, code, line in blocks(page, "python")
          if marker is None or not marker.startswith("not run")]


@pytest.mark.parametrize("page, code, line", PYTHON, ids=[f"{p.relative_to(REPO)}:{line}" for p, _, line in PYTHON])
def test_python_examples_run(page, code, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{page.relative_to(REPO)}:{line}", "exec"), {"__name__": "__docs__"})


def test_the_readme_nms_example_gives_what_it_says():
    code = next(code for _, code, _ in blocks(REPO / "README.md", "python") if "temporal_nms" in code)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["keep"].tolist() == [0, 2]


SHELL = [(page, marker, code, line) for page in PAGES for language in ("bash", "sh")
         for marker, code, line in blocks(page, language)]


def test_every_shell_example_is_run_or_says_why_not():
    unmarked = [f"{page.relative_to(REPO)}:{line}" for page, marker, _, line in SHELL if marker is None]
    assert unmarked == []
    assert sum(marker == "run" for _, marker, _, _ in SHELL) >= 8  # the runnable ones stay runnable


@pytest.fixture(scope="session")
def docs_world(tmp_path_factory) -> Path:
    """The sandbox the `<!-- run -->` examples start in (see the module docstring)."""
    root = tmp_path_factory.mktemp("docs_world")
    demo = run_cli("demo", "--out", str(root / "drn_demo"), "--videos", "8", "--epochs", "1", "1", "1",
                   "--no-progress")
    assert demo.returncode == 0, demo.stderr[-3000:]
    (root / "configs").symlink_to(REPO / "configs")
    if shared_data_dir().is_dir():
        (root / "data").symlink_to(shared_data_dir())
    from drn.data.synthetic.video import make_synthetic_video_dataset

    made = make_synthetic_video_dataset(root / "synthetic_videos", num_videos_train=2, num_videos_val=0,
                                        num_videos_test=0, seed=5)
    (root / "videos").mkdir()
    for video in sorted(Path(made["videos"]).rglob("*.mp4"))[:2]:
        (root / "videos" / video.name).symlink_to(video)
    vid = sorted(p.stem for p in (root / "drn_demo" / "data" / "features").glob("SYNTE*.npy"))[0]
    (root / "queries.jsonl").write_text(f'{{"qid": 1, "vid": "{vid}", "query": "a person opens the door", '
                                        f'"duration": 30.0}}\n')
    return root


RUN = [(page, code, line) for page, marker, code, line in SHELL if marker == "run"]


@pytest.mark.slow
@pytest.mark.parametrize("page, code, line", RUN, ids=[f"{p.relative_to(REPO)}:{line}" for p, _, line in RUN])
def test_shell_examples_run(page, code, line, docs_world):
    if re.search(r"(^|\s)data/", code):
        shared_file("qvhighlights")  # the example reads the shared real data
    env = cli_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=docs_world, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{page.name}:{line}\n{code}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
