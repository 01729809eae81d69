"""A brand-new project built from the docs' own snippets and served by gunicorn, in each set-up.

``django-admin startproject``, then the README's settings, URLs and WSGI lines and, per set-up,
the view the docs show for it: ``jwt_required`` with the middleware (README), DRF's
``JWTAuthentication`` alone (docs/drf.md), Django Ninja's ``JWTAuth`` alone (docs/ninja.md).
Every snippet is read from the Markdown itself, so the docs cannot drift from what works. The
test does only what a user must: it merges each snippet into startproject's files (their own
lists kept), and points the database and the cache at the test's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from services import free_port
from services.postgres import Database
from tests import servers
from tests import settings as test_settings
from tests.conftest import PASSWORD
from tests.servers import ROOT, serving, user_env
from tests.snippets import snippet

JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"
REVOKED = {"error": "token_revoked", "detail": "The token has been revoked."}
REVOKED_CHALLENGE = 'Bearer error="invalid_token", error_description="The token has been revoked."'


@dataclass(frozen=True)
class Setup:
    """One documented set-up: its settings, its view module and the URLs that serve the view."""

    name: str
    middleware: bool
    settings: str
    api: str
    urls: str


SETUPS = [
    Setup(
        "middleware",
        middleware=True,
        settings="",
        api=snippet("README.md", "@jwt_required"),
        urls='urlpatterns = [path("api/me/", api.me)]\n',
    ),
    Setup(
        "drf-only",
        middleware=False,
        settings=snippet("docs/drf.md", "DEFAULT_AUTHENTICATION_CLASSES"),
        api=snippet("docs/drf.md", "class DRFMeView"),
        urls='urlpatterns = [path("api/me/", api.DRFMeView.as_view())]\n',
    ),
    Setup(
        "ninja-only",
        middleware=False,
        settings="",
        api=snippet("docs/ninja.md", "NinjaAPI(auth=JWTAuth())"),
        urls="from mysite.api import api\n" + snippet("docs/ninja.md", "# urls.py"),
    ),
]


def merged(original: str, *parts: str, keep: str, merge: str) -> str:
    """Return ``original`` followed by each part, with the value ``keep`` names accumulated.

    A snippet assigns ``INSTALLED_APPS`` or ``urlpatterns`` whole ("# ..." standing for the
    user's own entries); the user keeps theirs and adds the snippet's, as ``merge`` does.
    """
    text = original + f"\n_kept = list({keep})\n"
    for part in parts:
        text += f"\n{part}\n{merge}\n"
    return text + f"\n{keep} = _kept\n"


def write_project(root: Path, setup: Setup, database: Database, prefix: str) -> Path:
    """Create the project with startproject and the docs' snippets; return its directory."""
    root.mkdir()
    started = subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    package = root / "mysite"
    readme_settings = snippet("README.md", "INSTALLED_APPS = [")
    settings = merged(
        (package / "settings.py").read_text(),
        readme_settings,
        keep="INSTALLED_APPS",
        merge="_kept += [a for a in INSTALLED_APPS if a not in _kept]",
    )
    settings += '\nINSTALLED_APPS += ["yourapp"]\n'
    if not setup.middleware:  # the adapter alone, as docs/drf.md and docs/ninja.md allow
        settings += f"\nMIDDLEWARE = [m for m in MIDDLEWARE if m != {JWT_MIDDLEWARE!r}]\n"
    own = urlsplit(database.url)
    settings += (
        f"\n{setup.settings}\n"
        "# The test's own services, in place of the README's examples.\n"
        f'DATABASES["default"].update(NAME={database.name!r}, HOST={own.hostname!r}, '
        f"PORT={own.port or 5432!r}, USER={own.username or ''!r})\n"
        f'CACHES["default"].update(LOCATION={test_settings.REDIS_URL!r}, '
        f"KEY_PREFIX={prefix!r})\n"
    )
    (package / "settings.py").write_text(settings)
    (package / "api.py").write_text(setup.api)
    app = root / "yourapp"  # docs/admin.md: the user admin with jwtauth's mixin, in an app
    made = subprocess.run(
        [sys.executable, "-m", "django", "startapp", "yourapp"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    (app / "admin.py").write_text(snippet("docs/admin.md", "UserTokensAdminMixin"))
    readme_urls = snippet("README.md", 'include("jwtauth.urls")')
    urls = merged(
        (package / "urls.py").read_text() + "from mysite import api\n",
        readme_urls,
        setup.urls,
        keep="urlpatterns",
        merge="_kept += [p for p in urlpatterns if str(p.pattern) not in map(str, "
        "(q.pattern for q in _kept))]",
    )
    (package / "urls.py").write_text(urls)
    wsgi = (package / "wsgi.py").read_text().replace("application = get_wsgi_application()", "")
    wsgi += "\nfrom jwtauth.startup import refuse_on_errors\n" + snippet(
        "README.md", "refuse_on_errors()"
    )
    (package / "wsgi.py").write_text(wsgi)
    return root


def manage(project: Path, env: dict[str, str], *args: str) -> str:
    """Run the project's ``manage.py``; return its output, failing the test on an error."""
    done = servers.manage(env, *args, cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def call(
    base: str, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """Send one request; return (status, headers, JSON body)."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL
        base + path, data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            raw, status, answered = response.read(), response.status, response.headers
    except urllib.error.HTTPError as e:
        raw, status, answered = e.read(), e.code, e.headers
    return status, dict(answered), json.loads(raw) if raw else None


# The user admin docs/admin.md registers, and the change page its mixin adds the link to.
ADMIN_PAGE = """
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from jwtauth.admin import UserTokensAdminMixin
setup_test_environment()
User = get_user_model()
assert isinstance(admin.site.get_model_admin(User), UserTokensAdminMixin)
root = User.objects.create_superuser("root", password="admin-password-123")
client = Client()
client.force_login(root)
page = client.get(f"/admin/auth/user/{root.pk}/change/")
print(page.status_code, "revoke-tokens/" in page.content.decode())
"""


@pytest.fixture
def services() -> Iterator[tuple[Database, str]]:
    """Yield a database and a cache key prefix of the test's own; drop both afterwards."""
    tag = uuid.uuid4().hex[:12]
    database = Database(test_settings.DATABASE_URL, f"jwtauth_newproject_{tag}")
    database.create()
    prefix = f"jwtauth-newproject-{tag}"
    try:
        yield database, prefix
    finally:
        database.drop()
        client = redis.Redis.from_url(test_settings.REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("setup", SETUPS, ids=[s.name for s in SETUPS])
def test_a_new_project_built_from_the_docs_works_as_they_say(
    setup: Setup, services: tuple[Database, str], tmp_path: Path
) -> None:
    database, prefix = services
    project = write_project(tmp_path / "mysite", setup, database, prefix)
    env = user_env(
        DJANGO_SETTINGS_MODULE="mysite.settings",
        JWTAUTH_SECRET_KEY="s" * 64,
        PYTHONPATH=str(ROOT),  # jwtauth importable, as `pip install .` would make it
    )
    manage(project, env, "migrate", "--noinput")
    checked = manage(project, env, "check")
    assert "jwtauth" not in checked, checked  # no jwtauth warning on the docs' own set-up
    create = "from django.contrib.auth.models import User; User.objects.create_user("
    manage(project, env, "shell", "-c", f"{create}'alice', password={PASSWORD!r})")

    admin_page = manage(project, env, "shell", "-c", ADMIN_PAGE)
    assert admin_page.strip().splitlines()[-1] == "200 True", admin_page

    port = free_port()
    command = f"exec {sys.executable} -m gunicorn mysite.wsgi:application -b 127.0.0.1:{port}"
    with serving(command, cwd=project, env=env, port=port, log=tmp_path / "gunicorn.log") as base:
        status, _, pair = call(
            base, "POST", "/auth/login/", body={"username": "alice", "password": PASSWORD}
        )
        assert status == 200, pair
        assert pair["token_type"] == "Bearer"
        status, _, me = call(base, "GET", "/api/me/", token=pair["access"])
        assert (status, me["username"]) == (200, "alice")

        status, _, rotated = call(base, "POST", "/auth/refresh/", body={"refresh": pair["refresh"]})
        assert status == 200, rotated
        access, refresh = rotated["access"], rotated["refresh"]
        assert call(base, "GET", "/api/me/", token=access)[0] == 200
        assert call(base, "POST", "/auth/logout/", token=access)[0] == 204

        status, headers, body = call(base, "GET", "/api/me/", token=access)
        assert (status, body) == (401, REVOKED)
        assert headers["WWW-Authenticate"] == REVOKED_CHALLENGE
        status, _, body = call(base, "POST", "/auth/refresh/", body={"refresh": refresh})
        assert (status, body) == (401, REVOKED)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()


def test_the_snippets_are_found() -> None:
    # If a doc changes shape, the parse must notice rather than build a project without it.
    for setup in SETUPS:
        assert setup.api.strip()
        assert "urlpatterns" in setup.urls
    assert SETUPS[1].settings.startswith("REST_FRAMEWORK = {")
