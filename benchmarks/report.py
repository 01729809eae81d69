"""The report: Markdown tables and targets, medians with their spread, the machine measured."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Return the 25th percentile, median and 75th percentile of ``values``."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def fmt(values: list[float], digits: int = 1) -> str:
    """Format a median with its interquartile range."""
    q1, q2, q3 = quartiles(values)
    return f"{q2:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


@dataclass
class Report:
    """Everything measured, printed as Markdown tables at the end."""

    sections: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self, title: str, header: list[str], rows: list[list[str]], note: str = "") -> None:
        """Add a Markdown table."""
        lines = [f"### {title}", ""]
        if note:
            lines += [note, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.sections.append("\n".join(lines))

    def target(self, name: str, goal: str, measured: str, met: bool | None) -> None:
        """Record a target and whether this run met it."""
        self.targets.append((name, goal, measured, met))

    def render(self) -> str:
        """Return the whole report as Markdown."""
        rows = [
            f"| {n} | {g} | {m} | {'met' if ok else 'MISSED' if ok is False else '—'} |"
            for n, g, m, ok in self.targets
        ]
        targets = "\n".join(
            ["### Targets", "", "| target | goal | measured | |", "|---|---|---|---|", *rows]
        )
        return "\n\n".join([*self.sections, targets]) + "\n"


def machine() -> str:
    """Describe the machine and the versions measured."""
    from importlib.metadata import version

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = (
        subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2:3]
        if shutil.which("redis-server")
        else ["?"]
    )
    pg = "?"
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg = cursor.fetchone()[0]
    except Exception:  # noqa: S110 - a description only
        pass
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "Django",
            "djangorestframework",
            "djangorestframework-simplejwt",
            "PyJWT",
            "cryptography",
            "redis",
            "hiredis",
            "django-redis",
            "psycopg",
            "gunicorn",
        )
    )
    wrk = (
        shutil.which("wrk")
        and subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        .stdout.split("[")[0]
        .strip()
    )
    return (
        f"- {os.cpu_count()} cores (nproc), {cpu}, {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, PostgreSQL {pg}, "
        f"Redis {' '.join(v.removeprefix('v=') for v in redis_version)}, {wrk or 'wrk not used'}\n"
        f"- {packages}"
    )
