"""The README's and docs' commands as a user copies them: every `fmnist` command parses with
the CLI's own parser, every script and option it names exists, and every relative link points
at a file."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_jax.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shell_lines(page: Path) -> list[str]:
    """The lines of a page's shell code blocks (fences ``` or ```bash/sh/shell)."""
    lines, language = [], None
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language in ("", "bash", "sh", "shell"):
            lines.append(line)
    return lines


def commands(program: str) -> list[tuple[str, list[str]]]:
    """(page, argv) of each shell command (one per line or between `&&`) that runs `program`,
    comments and `python -m` dropped."""
    found = []
    for page in PAGES:
        for line in shell_lines(page):
            for command in line.split("&&"):
                words = shlex.split(command, comments=True)
                if words[:1] == ["$"]:
                    words = words[1:]
                if words and words[0] == program and words[1:2] != ["-m"]:
                    found.append((page.name, words[1:]))
    return found


def test_the_pages_hold_commands_to_check():
    assert len(commands("fmnist")) >= 5 and commands("python") and commands("bash")


@pytest.mark.parametrize("page, argv", commands("fmnist"), ids=lambda v: " ".join(v)
                         if isinstance(v, list) else v)
def test_every_fmnist_command_parses(page, argv):
    parser, _ = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        pytest.fail(f"{page}: `fmnist {' '.join(argv)}` does not parse (exit {exit.code})")
    assert args.command == argv[0]


@pytest.mark.parametrize("page, argv", commands("python"), ids=lambda v: " ".join(v)
                         if isinstance(v, list) else v)
def test_every_script_and_its_options_exist(page, argv):
    script = REPO / argv[0]
    assert script.is_file(), f"{page}: {argv[0]} does not exist"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                           text=True, timeout=120, cwd=REPO, check=True).stdout
    for option in (word for word in argv[1:] if word.startswith("--")):
        assert option in shown, f"{page}: {argv[0]} has no {option}"


def test_every_bash_script_exists():
    for page, argv in commands("bash"):
        assert (REPO / argv[0]).is_file(), f"{page}: {argv[0]} does not exist"


def test_every_relative_link_points_at_a_file():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+://", target):
                assert (page.parent / target).exists(), f"{page.name}: link to {target}"
