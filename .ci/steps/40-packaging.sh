#!/usr/bin/env bash
# Packaging: build the sdist and the wheel (the wheel from the sdist), install the wheel into a
# fresh virtual environment, and check that it is the jwtauth app alone — importable, typed
# (py.typed), with its migrations, templates and compiled translations, its migrations in step
# with its models — and that the adapters are optional extras.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
PY=${PY311:-$(command -v python3.11 || command -v python3)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK" "$ROOT/jwtauth.egg-info"' EXIT

log() { printf -- '--- %s\n' "$*"; }
quietly() { "$@" >"$WORK/cmd.log" 2>&1 || { cat "$WORK/cmd.log"; return 1; }; }

"$BIN/python" -m build --version >/dev/null 2>&1 || "$BIN/python" -m pip install --quiet -r requirements-test.txt

log "build sdist and wheel"
quietly "$BIN/python" -m build --outdir "$WORK/dist" .
SDIST=$(ls "$WORK"/dist/jwtauth-*.tar.gz)
WHEEL=$(ls "$WORK"/dist/jwtauth-*-py3-none-any.whl)
echo "$(basename "$SDIST") $(basename "$WHEEL")"

log "archive contents"
"$BIN/python" - "$SDIST" "$WHEEL" <<'PY'
import re
import sys
import tarfile
import zipfile

sdist, wheel = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
stray = [n for n in names if not re.match(r"jwtauth/|jwtauth-[^/]+\.dist-info/", n)]
assert not stray, f"the wheel holds more than jwtauth/: {stray}"
required = [
    "jwtauth/__init__.py",
    "jwtauth/py.typed",
    "jwtauth/migrations/0001_initial.py",
    "jwtauth/management/commands/purge_revoked_tokens.py",
    "jwtauth/contrib/drf.py",
    "jwtauth/contrib/ninja.py",
    *(f"jwtauth/locale/{lang}/LC_MESSAGES/django.{ext}"
      for lang in ("de", "es", "fr", "ja", "pt_BR", "zh_Hans") for ext in ("po", "mo")),
]
missing = [n for n in required if n not in names]
assert not missing, f"the wheel lacks {missing}"
assert any(n.startswith("jwtauth/templates/") for n in names), "the wheel has no templates"
assert not any(n.endswith((".pyc", ".pyo")) for n in names), "the wheel holds bytecode"
assert any(n.endswith("/licenses/LICENSE") for n in names), "the wheel has no LICENSE"

members = tarfile.open(sdist).getnames()
top = {m.split("/")[1] for m in members if m.count("/") >= 1 and m.split("/")[1]}
for forbidden in ("tests", "project", "benchmarks", "loadtest", "services", ".ci", "manage.py"):
    assert forbidden not in top, f"the sdist holds {forbidden}"
print(f"wheel: {len(names)} files, all under jwtauth/; sdist: {sorted(top)}")
PY

log "install the wheel into a fresh virtual environment ($PY)"
"$PY" -m venv "$WORK/venv"
quietly "$WORK/venv/bin/python" -m pip install "$WHEEL"

cat >"$WORK/check_installed.py" <<'PY'
"""Run inside the fresh environment, away from the repository."""

import importlib.metadata
import importlib.util
import io
import pathlib
import sys

import django
from django.conf import settings

import jwtauth

package = pathlib.Path(jwtauth.__file__).parent
assert "site-packages" in str(package), f"imported from {package}, not the installed wheel"
assert importlib.metadata.version("jwtauth") == jwtauth.__version__
assert (package / "py.typed").is_file(), "py.typed missing"
assert (package / "migrations" / "0001_initial.py").is_file(), "migrations missing"
assert any((package / "templates").rglob("*.html")), "templates missing"
for top in ("project", "tests", "benchmarks", "loadtest", "services"):
    assert importlib.util.find_spec(top) is None, f"{top} was installed"

settings.configure(
    SECRET_KEY="packaging-check-" + "d" * 40,
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "jwtauth",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    JWTAUTH_SECRET_KEY="packaging-check-jwt-" + "k" * 48,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
    DEBUG=True,
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "jwtauth.middleware.JWTAuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    ROOT_URLCONF="jwtauth.urls",
)
django.setup()
from django.core.management import call_command  # noqa: E402

call_command("check", fail_level="ERROR")
call_command("makemigrations", "jwtauth", check=True, dry_run=True, verbosity=0)
call_command("migrate", verbosity=0)
out = io.StringIO()
call_command("purge_revoked_tokens", "--dry-run", stdout=out)

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import translation  # noqa: E402

from jwtauth import sessions, tokens  # noqa: E402
from jwtauth.exceptions import TokenExpired  # noqa: E402

with translation.override("de"):  # the compiled catalogues shipped and load
    assert str(TokenExpired().detail) == "Das Token ist abgelaufen."

user = get_user_model().objects.create_user("pkg", password="pkg-" + "p" * 20)
pair = sessions.start(user, user_agent="packaging", ip_address="127.0.0.1")
assert tokens.decode(pair.access).sub == str(user.pk)

extras = sys.argv[1:]
for module, extra in (("jwtauth.contrib.drf", "drf"), ("jwtauth.contrib.ninja", "ninja")):
    try:
        __import__(module)
    except ImportError:
        assert extra not in extras, f"{module} does not import with [{extra}] installed"
    else:
        assert extra in extras, f"{module} imported without the [{extra}] extra"
print(f"installed jwtauth {jwtauth.__version__}: app, migrations, templates, translations, py.typed; extras {extras or 'none'}")
PY

log "check the installed app (no extras)"
(cd "$WORK" && "$WORK/venv/bin/python" check_installed.py)

log "install the extras [drf,ninja] and check again"
quietly "$WORK/venv/bin/python" -m pip install "$WHEEL[drf,ninja]"
(cd "$WORK" && "$WORK/venv/bin/python" check_installed.py drf ninja)

log "packaging OK"
