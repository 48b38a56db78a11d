"""The README's Python examples run as written."""

import re

import pytest

from tests.helpers.paths import REPO

README = REPO / "README.md"


def python_blocks(heading: str) -> list[str]:
    text = README.read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.parametrize("heading", ["## The ops (`import drn.ops`)", "## Using the model from Python"])
def test_readme_python_examples_run(heading):
    blocks = python_blocks(heading)
    assert blocks, f"no python example under {heading!r}"
    for code in blocks:
        exec(compile(code, f"README.md {heading}", "exec"), {})


def test_readme_nms_example_result():
    namespace = {}
    exec(compile(python_blocks("## The ops (`import drn.ops`)")[0], "README.md", "exec"), namespace)
    assert namespace["keep"].tolist() == [0, 2]
