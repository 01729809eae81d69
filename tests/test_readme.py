"""The README's tour, run as written: its ``make run`` line, then each ``$`` command with curl.

The commands and their shown output are read from README.md itself, so the two cannot drift.
The only changes made to them: ``make run`` gets a free port and the virtual environment running
these tests (see :func:`tests.servers.with_venv`), and the tour's base URL gets that port. The
output is compared where it is stable: status lines, the headers shown, JSON keys and values;
a string the README shortens with an ellipsis (a token) matches any string at least as long.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services import free_port
from tests.servers import ROOT, copy_tree, serving, user_env, with_venv

README = (ROOT / "README.md").read_text()
TOUR_TITLE = "## A 2-minute tour"
DOCUMENTED_BASE = "http://127.0.0.1:8000"
MARK = "@@readme-step@@"


@dataclass
class Step:
    """One ``$`` command of the tour and the output the README shows under it."""

    command: str
    shown: list[str] = field(default_factory=list)


def tour_section() -> str:
    """Return the README's tour, from its heading to the next one."""
    start = README.index(TOUR_TITLE)
    end = README.find("\n## ", start + len(TOUR_TITLE))
    return README[start : end if end != -1 else None]


def tour_blocks() -> list[tuple[str, str]]:
    """Return the tour's fenced blocks as (language, text)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", tour_section(), re.MULTILINE | re.DOTALL)


def start_command() -> str:
    """Return the tour's one line that starts the demo site."""
    [line] = [
        line
        for language, text in tour_blocks()
        if language == "sh"
        for line in text.splitlines()
        if "make run" in line
    ]
    return line.strip()


def steps() -> list[Step]:
    """Return the ``$`` commands of the tour's console blocks, with their shown output."""
    found: list[Step] = []
    for language, text in tour_blocks():
        if language != "console":
            continue
        continued = False
        for line in text.splitlines():
            if continued:
                found[-1].command += "\n" + line
            elif line.startswith("$ "):
                found.append(Step(line[2:]))
            else:
                found[-1].shown.append(line)
            continued = line.endswith("\\")
    return found


def run_tour(base: str, workdir: Path) -> list[str]:
    """Run every step in one bash session (variables carry over); return each step's output."""
    script = "\n".join(
        f"printf '\\n{MARK}\\n'\n{step.command.replace(DOCUMENTED_BASE, base)}" for step in steps()
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == "", result.stderr
    return [chunk.strip("\n") for chunk in result.stdout.split(f"\n{MARK}\n")[1:]]


def matches(shown: Any, actual: Any) -> bool:
    """Tell whether ``actual`` JSON has the shape and stable values of the README's ``shown``."""
    if isinstance(shown, dict):
        return (
            isinstance(actual, dict)
            and list(shown) == list(actual)
            and all(matches(shown[k], actual[k]) for k in shown)
        )
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(shown) == len(actual)
            and all(matches(s, a) for s, a in zip(shown, actual, strict=True))
        )
    if isinstance(shown, str) and shown.endswith("…"):
        return isinstance(actual, str) and len(actual) >= len(shown) - 1
    return bool(type(shown) is type(actual) and shown == actual)


def check_http(shown: list[str], actual: str) -> None:
    """Compare ``curl -i`` output: the status line, every header shown, and the body."""
    head, _, body = actual.replace("\r\n", "\n").partition("\n\n")
    status, *header_lines = head.splitlines()
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    blank = shown.index("") if "" in shown else len(shown)
    assert status == shown[0]
    for line in shown[1:blank]:
        name, _, value = line.partition(":")
        assert headers.get(name.strip().lower()) == value.strip(), line
    check_body(shown[blank + 1 :], body)


def check_body(shown: list[str], actual: str) -> None:
    """Compare a body: empty, or JSON of the shown shape."""
    if not shown:
        assert actual.strip() == ""
        return
    expected, received = json.loads("\n".join(shown)), json.loads(actual)
    assert matches(expected, received), f"README shows {expected!r}, got {received!r}"


def test_the_tour_is_what_the_readme_says() -> None:
    # The parse itself: if the README changes shape, this test must notice, not pass vacuously.
    assert start_command() == (
        "DJANGO_SUPERUSER_USERNAME=admin DJANGO_SUPERUSER_PASSWORD=demo-password-123 make run"
    )
    tour = steps()
    assert tour[0].command == f"B={DOCUMENTED_BASE}"
    assert sum(bool(step.shown) for step in tour) >= 6
    assert any(step.shown and step.shown[0].startswith("HTTP/1.1 401") for step in tour)


def test_the_readme_tour_runs_verbatim_on_a_fresh_copy(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "jwtauth")
    workdir = tmp_path / "terminal-2"
    workdir.mkdir()
    port = free_port()
    log = tmp_path / "make-run.log"

    with serving(
        with_venv(start_command(), port), cwd=tree, env=user_env(), port=port, log=log
    ) as base:
        outputs = run_tour(base, workdir)

    tour = steps()
    assert len(outputs) == len(tour)
    for step, output in zip(tour, outputs, strict=True):
        try:
            if step.shown and step.shown[0].startswith("HTTP/"):
                check_http(step.shown, output)
            else:
                check_body(step.shown, output)
        except (AssertionError, ValueError) as e:
            raise AssertionError(f"$ {step.command}\n{output}\n\n{e}") from e
    # The server answered on the free port given as PORT; the superuser is the README's.
    assert "Superuser 'admin' created." in log.read_text()
