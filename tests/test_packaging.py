"""Packaging metadata: one version, the tested versions classified, the adapters optional.

The real build (sdist and wheel, installed into a fresh environment) runs in CI as
``.ci/steps/40-packaging.sh``; these checks catch a drifting pyproject.toml in every test run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

import jwtauth
from jwtauth import exceptions
from jwtauth.conf import DEFAULTS, PREFIX

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jwtauth"
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT: dict[str, Any] = PYPROJECT["project"]
# Third-party imports each adapter may use, and that nothing else in jwtauth may.
OPTIONAL = {"rest_framework": "drf", "ninja": "ninja"}
MODULES = sorted(PACKAGE.rglob("*.py"))
ADAPTERS = {"drf": PACKAGE / "contrib" / "drf.py", "ninja": PACKAGE / "contrib" / "ninja.py"}


def _pins() -> dict[str, str]:
    pins = {}
    for path in sorted(ROOT.glob("requirements*.txt")):  # runtime, test and benchmark sets
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[Requirement(name).name.lower()] = version.strip()
    return pins


def _imported_tops(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_the_version_lives_in_one_place() -> None:
    assert "version" not in PROJECT
    assert PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jwtauth.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", jwtauth.__version__)


def test_the_changelog_names_the_version_or_unreleased_first() -> None:
    headings = re.findall(r"^## \[?([^\]\s]+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased"
    assert all(h == "Unreleased" or re.fullmatch(r"\d+\.\d+\.\d+", h) for h in headings)


def test_classifiers_name_the_versions_ci_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    classifiers = set(PROJECT["classifiers"])
    pythons = set(re.findall(r"find_python (3\.\d+)", ci))
    assert pythons == {"3.11", "3.12"}
    for version in pythons:
        assert f"Programming Language :: Python :: {version}" in classifiers
    baseline = ".".join(_pins()["django"].split(".")[:2])
    second = re.search(r"DJANGO=Django==(\d+\.\d+)", ci)
    assert second is not None
    for version in (baseline, second.group(1)):
        assert f"Framework :: Django :: {version}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert PROJECT["requires-python"] == ">=3.11"


def test_pinned_requirements_satisfy_the_declared_dependencies() -> None:
    pins = _pins()
    declared = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        declared.extend(Requirement(r) for r in extra)
    for requirement in declared:
        pinned = pins[requirement.name.lower()]
        assert requirement.specifier.contains(pinned), (requirement, pinned)


def test_the_adapters_are_optional_extras() -> None:
    extras = PROJECT["optional-dependencies"]
    assert {Requirement(r).name for r in extras["drf"]} == {"djangorestframework"}
    assert {Requirement(r).name for r in extras["ninja"]} == {"django-ninja"}
    core = {Requirement(r).name.lower() for r in PROJECT["dependencies"]}
    assert core.isdisjoint({"djangorestframework", "django-ninja"})


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_adapters_import_the_optional_frameworks(module: Path) -> None:
    used = {OPTIONAL[top] for top in _imported_tops(module) if top in OPTIONAL}
    allowed = {extra for extra, path in ADAPTERS.items() if path == module}
    assert used <= allowed


def test_the_wheel_holds_the_app_alone() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["jwtauth*"]
    for directory in PACKAGE.rglob("*"):
        if directory.is_dir() and directory.name != "__pycache__" and any(directory.glob("*.py")):
            assert (directory / "__init__.py").is_file(), f"{directory} is not a package"


def test_package_data_covers_every_file_that_is_not_python() -> None:
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["jwtauth"]
    data = [
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    ]
    covered = {path.relative_to(PACKAGE) for pattern in patterns for path in PACKAGE.glob(pattern)}
    assert Path("py.typed") in data
    assert set(data) <= covered


def test_the_license_file_is_declared() -> None:
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause" in (ROOT / "LICENSE").read_text()


# Code health: the messages a client reads are translatable.

USER_FACING = {
    name
    for name, value in vars(exceptions).items()
    if isinstance(value, type) and issubclass(value, exceptions.JWTAuthError)
} | {"AuthenticationFailed", "APIException"}  # DRF's, in the DRF adapter


def _untranslated_messages(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        message = node.args[0]
        literal = isinstance(message, ast.JoinedStr) or (
            isinstance(message, ast.Constant) and isinstance(message.value, str)
        )
        if name in USER_FACING and literal:
            found.append(f"{path.name}:{node.lineno}")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_messages_users_see_are_translatable(module: Path) -> None:
    # An error detail goes into the JSON answer: it must pass through gettext(_lazy).
    assert _untranslated_messages(module) == []


# Documentation: the settings reference keeps up with the code.

SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()


def test_the_settings_reference_lists_every_setting() -> None:
    missing = [PREFIX + name for name in DEFAULTS if f"`{PREFIX}{name}`" not in SETTINGS_DOC]
    assert missing == []


def test_the_settings_reference_lists_every_demo_variable() -> None:
    read = set(
        re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', (ROOT / "project" / "settings.py").read_text())
    )
    example = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    documented = set(re.findall(r"`([A-Z0-9_]+)`", SETTINGS_DOC))
    documented |= {f"DJANGO_SUPERUSER_{part}" for part in ("USERNAME", "PASSWORD", "EMAIL")}
    assert (read | example) - documented == set()


def test_the_settings_reference_lists_every_system_check() -> None:
    sources = [*PACKAGE.rglob("*.py"), ROOT / "project" / "checks.py"]
    ids = {
        i
        for path in sources
        for i in re.findall(r"(?:jwtauth|project)\.[EW]\d{3}", path.read_text())
    }
    assert ids
    assert {i for i in ids if f"`{i}`" not in SETTINGS_DOC} == set()
