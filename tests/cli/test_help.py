"""The help texts say what the commands really do: every subcommand is listed and has a
description, a default a help text states is the default the command uses, and the texts that
name modes, backbones or settings name the real ones. Run through the real `drn` command."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from drn.cli import SUBCOMMANDS, build_parser
from tests.helpers.cli import cli_env


def drn_help(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "drn.cli", *args, "--help"], env=cli_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())  # argparse wraps lines; compare on words


def subparsers() -> dict:
    action = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_top_level_help_lists_every_subcommand_with_its_summary():
    text = drn_help()
    for name, parser in subparsers().items():
        assert name in text
    assert set(subparsers()) == set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_each_subcommand_has_a_description_and_lists_its_options(command):
    parser = subparsers()[command]
    assert parser.description, f"drn {command} has no description"
    text = drn_help(command)
    for action in parser._actions:
        for option in action.option_strings:
            assert option in text, (command, option)


# "(default X" with X a plain value, as help texts write the defaults argparse applies.
STATED_DEFAULT = re.compile(r"\(default:? ([-\w.]+)")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_stated_defaults_are_the_parsers_defaults(command):
    checked = 0
    for action in subparsers()[command]._actions:
        match = STATED_DEFAULT.search(action.help or "")
        if match is None or action.default is None or action.default is False:
            continue
        stated, real = match.group(1), action.default
        assert stated == str(real) or (isinstance(real, float) and float(stated) == real), (command, action.dest)
        checked += 1
    if command in ("serve", "extract"):
        assert checked >= 3  # the check ran on their numeric options


def test_demo_help_states_the_demo_settings():
    from drn.demo.synthetic import DemoSettings
    from drn.demo.video import VideoDemoSettings

    plain, video = DemoSettings(), VideoDemoSettings()
    text = drn_help("demo")
    assert f"default {plain.train_videos}, {video.train_videos} with --video" in text
    assert f"default {' '.join(map(str, plain.epochs))}; {' '.join(map(str, video.epochs))} with --video" in text
    assert f"'{video.backbone}' backbone" in text


def test_predict_help_names_all_three_modes():
    text = drn_help("predict")
    for option in ("--features", "--video", "--queries", "--videos", "--out"):
        assert option in text
    description = subparsers()["predict"].description
    assert all(mode in description for mode in ("--features", "--video", "--queries"))


def test_extract_help_names_every_registered_backbone():
    from drn.video.backbones import BACKBONES

    action = next(a for a in subparsers()["extract"]._actions if "--backbone" in a.option_strings)
    named = re.findall(r"[\w-]+", action.help.split("(")[0].replace(" or ", ", "))
    assert set(named) == set(BACKBONES)
