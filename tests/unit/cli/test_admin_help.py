"""Every `crm` command and subcommand answers --help (exit 0) naming its options.

The argparse tree is walked, so a command added later is checked without
being listed here; the admin commands (those that talk to the gateway) must
also show a one-line description and at least one example.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import parser

ROOT = Path(__file__).resolve().parents[3]


def _subcommands(node: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in node._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def walk(
    node: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree with the words that reach it, root first."""
    yield words, node
    for name, child in _subcommands(node):
        yield from walk(child, (*words, name))


TREE = list(walk(parser()))
ADMIN = {"org", "purposes", "notices", "basis-rules", "pressure", "import", "export",
         "campaigns", "privacy"}  # fmt: skip
ADMIN_PARSERS = [(w, p) for w, p in TREE if w and w[0] in ADMIN]
LEAVES = [(w, p) for w, p in ADMIN_PARSERS if not list(_subcommands(p))]


def test_the_walk_reaches_every_admin_area_and_verb() -> None:
    reached = {" ".join(words) for words, _ in TREE}
    for expected in (
        "org policies history",
        "purposes add",
        "pressure add-rule",
        "import contacts",
        "export contacts",
        "campaigns show",
        "campaigns pause",
        "campaigns resume",
        "campaigns cancel",
        "campaigns schedule",
        "privacy file",
        "privacy list",
        "privacy show",
        "token",
    ):
        assert expected in reached
    assert len(LEAVES) >= 35


@pytest.mark.parametrize("words", [w for w, _ in TREE], ids=lambda w: " ".join(w) or "crm")
def test_help_exits_0_and_names_every_option(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as leaving:
        parser().parse_args([*words, "--help"])
    assert leaving.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: crm {' '.join(words)}".rstrip())
    node = dict(TREE)[words]
    for action in node._actions:
        if action.help == argparse.SUPPRESS:
            continue
        for option in action.option_strings:
            assert option in shown, f"{option} missing from crm {' '.join(words)} --help"
        if not action.option_strings:
            assert _positional_name(action) in shown


def _positional_name(action: argparse.Action) -> str:
    if action.metavar:
        return str(action.metavar)
    if action.choices:
        return "{" + ",".join(action.choices) + "}"
    return action.dest


@pytest.mark.parametrize("words", [w for w, _ in ADMIN_PARSERS], ids=" ".join)
def test_an_admin_command_has_a_description_and_examples_and_a_verb_the_gateway_options(
    words: tuple[str, ...],
) -> None:
    node = dict(TREE)[words]
    shown = node.format_help()
    assert node.description and node.description.strip()
    examples = shown.split("examples:\n", 1)[1].splitlines()
    # An area (`crm org`, `crm org people`) shows the first example of each verb below it.
    assert examples and all(line.startswith(f"  crm {' '.join(words)}") for line in examples)
    if (words, node) in LEAVES:
        assert "\n" not in node.description.strip()  # a verb's description is one line
        for option in ("--gateway", "--token", "--timeout"):
            assert option in shown


def test_a_usage_error_exits_2_and_help_runs_as_a_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env["PYTHONPATH"] = str(ROOT)

    def crm(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    shown = crm("campaigns", "--help")
    assert shown.returncode == 0 and "schedule" in shown.stdout and "pause" in shown.stdout
    unknown = crm("campaigns", "explode")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    missing = crm("privacy", "file", "--kind", "access")
    assert missing.returncode == 2 and "--contact" in missing.stderr
