"""System checks: every misconfiguration is caught with its id, and the checks are registered."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from jwtauth import checks
from jwtauth.keys import HMAC_KEY_COMMAND, HMAC_MIN_BYTES
from tests.conftest import public_pem
from tests.servers import demo_env, manage

ROOT = Path(__file__).resolve().parent.parent


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_valid_configuration_has_no_key_errors() -> None:
    assert checks.check_keys() == []
    assert checks.check_claims() == []
    assert checks.check_middleware() == []


def test_missing_signing_key(settings: Any) -> None:
    settings.JWTAUTH_SECRET_KEY = ""
    [error] = checks.check_keys()
    assert error.id == "jwtauth.E001"
    assert "JWTAUTH_SECRET_KEY" in error.msg


def test_missing_private_key_for_asymmetric(settings: Any) -> None:
    settings.JWTAUTH_ALGORITHM = "ES256"
    assert ids(checks.check_keys()) == ["jwtauth.E001"]


@pytest.mark.parametrize("alg", ["none", "None", "RS512", "HS1", "", None, "PS256"])
def test_none_or_unknown_algorithm(settings: Any, alg: Any) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    assert ids(checks.check_keys()) == ["jwtauth.E002"]


@pytest.mark.parametrize(("alg", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_short_hmac_secret(settings: Any, alg: str, minimum: int) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_SECRET_KEY = "s" * (minimum - 1)
    [error] = checks.check_keys()
    assert error.id == "jwtauth.E003"
    assert str(minimum) in error.msg
    settings.JWTAUTH_SECRET_KEY = "s" * minimum
    assert checks.check_keys() == []


def test_short_hmac_fallback(settings: Any) -> None:
    settings.JWTAUTH_SECRET_KEY_FALLBACKS = ["short"]
    [error] = checks.check_keys()
    assert (error.id, "FALLBACKS[0]" in error.msg) == ("jwtauth.E003", True)


def test_pem_as_hmac_secret(settings: Any, private_keys: dict[str, str]) -> None:
    settings.JWTAUTH_SECRET_KEY = public_pem(private_keys["RS256"])
    assert ids(checks.check_keys()) == ["jwtauth.E003"]


def test_jwt_key_equal_to_django_secret_key(settings: Any) -> None:
    settings.JWTAUTH_SECRET_KEY = settings.SECRET_KEY
    assert ids(checks.check_keys()) == ["jwtauth.E004"]


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("RS256", "ES256"),
        ("ES256", "RS256"),
        ("ES256", "ES384"),
        ("EdDSA", "ES256"),
        ("RS256", "RSA-1024"),
    ],
)
def test_wrong_or_weak_private_key(
    settings: Any, private_keys: dict[str, str], alg: str, key: str
) -> None:
    settings.JWTAUTH_ALGORITHM = alg
    settings.JWTAUTH_PRIVATE_KEY = private_keys[key]
    assert ids(checks.check_keys()) == ["jwtauth.E005"]


def test_private_key_that_is_not_pem(settings: Any) -> None:
    settings.JWTAUTH_ALGORITHM = "RS256"
    settings.JWTAUTH_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"
    assert ids(checks.check_keys()) == ["jwtauth.E005"]


def test_private_key_from_a_file_path(
    settings: Any, private_keys: dict[str, str], tmp_path: Any
) -> None:
    path = tmp_path / "key.pem"
    path.write_text(private_keys["EdDSA"])
    settings.JWTAUTH_ALGORITHM = "EdDSA"
    settings.JWTAUTH_PRIVATE_KEY = str(path)
    assert checks.check_keys() == []
    settings.JWTAUTH_PRIVATE_KEY = str(tmp_path / "missing.pem")
    assert ids(checks.check_keys()) == ["jwtauth.E005"]


def test_public_key_not_matching_private_key(settings: Any, private_keys: dict[str, str]) -> None:
    settings.JWTAUTH_ALGORITHM = "RS256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["RS256"]
    settings.JWTAUTH_PUBLIC_KEY = public_pem(private_keys["RS256-other"])
    assert ids(checks.check_keys()) == ["jwtauth.E006"]
    settings.JWTAUTH_PUBLIC_KEY = public_pem(private_keys["RS256"])
    assert checks.check_keys() == []


def test_bad_public_key_fallback(settings: Any, private_keys: dict[str, str]) -> None:
    settings.JWTAUTH_ALGORITHM = "RS256"
    settings.JWTAUTH_PRIVATE_KEY = private_keys["RS256"]
    settings.JWTAUTH_PUBLIC_KEY_FALLBACKS = [
        "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----"
    ]
    assert ids(checks.check_keys()) == ["jwtauth.E007"]
    settings.JWTAUTH_PUBLIC_KEY_FALLBACKS = [public_pem(private_keys["ES256"])]
    assert ids(checks.check_keys()) == ["jwtauth.E005"]


@pytest.mark.parametrize("leeway", [301, -1, "30", timedelta(minutes=10)])
def test_leeway_out_of_range(settings: Any, leeway: Any) -> None:
    settings.JWTAUTH_LEEWAY = leeway
    assert ids(checks.check_claims()) == ["jwtauth.E008"]


def test_leeway_within_range(settings: Any) -> None:
    settings.JWTAUTH_LEEWAY = timedelta(seconds=60)
    assert checks.check_claims() == []


def test_lifetimes(settings: Any) -> None:
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(days=30)
    assert ids(checks.check_claims()) == ["jwtauth.E009"]
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(0)
    assert ids(checks.check_claims()) == ["jwtauth.E009"]


def test_a_lifetime_longer_than_the_refresh_one_says_so(settings: Any) -> None:
    settings.JWTAUTH_ACCESS_TOKEN_LIFETIME = timedelta(days=30)
    [error] = checks.check_claims()
    assert "JWTAUTH_ACCESS_TOKEN_LIFETIME (datetime.timedelta(days=30)) is longer than" in error.msg
    assert "positive" not in error.msg


@pytest.mark.parametrize(
    ("name", "value"),
    [("ACCESS", timedelta(0)), ("REFRESH", -5), ("ACCESS", "1h"), ("REFRESH", None)],
)
def test_a_lifetime_that_is_not_a_duration_is_named_alone(
    settings: Any, name: str, value: Any
) -> None:
    setattr(settings, f"JWTAUTH_{name}_TOKEN_LIFETIME", value)
    [error] = checks.check_claims()
    assert error.id == "jwtauth.E009"
    assert error.msg == f"JWTAUTH_{name}_TOKEN_LIFETIME={value!r} is not a positive duration."
    assert "longer" not in error.msg


def test_an_empty_django_secret_key_is_a_check_error_not_a_crash(settings: Any) -> None:
    settings.SECRET_KEY = ""
    [error] = checks.check_keys()
    assert error.id == "jwtauth.E013"
    assert "SECRET_KEY is empty" in error.msg
    with pytest.raises(SystemCheckError, match=r"jwtauth\.E013"):
        call_command("check")


def test_manage_py_check_reports_an_empty_secret_key_without_a_traceback(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "db.sqlite3", DJANGO_DEBUG="False", DJANGO_SECRET_KEY="")
    result = manage(env, "check")
    assert result.returncode == 1
    assert "(jwtauth.E013) Django's SECRET_KEY is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_secret_hints_give_the_readme_command(settings: Any) -> None:
    readme = (ROOT / "README.md").read_text()
    settings_doc = (ROOT / "docs" / "settings.md").read_text()
    for alg in ("HS256", "HS384", "HS512"):
        settings.JWTAUTH_ALGORITHM = alg
        settings.JWTAUTH_SECRET_KEY = "short"
        [too_short] = checks.check_keys()
        settings.JWTAUTH_SECRET_KEY = ""
        [missing] = checks.check_keys()
        for error in (too_short, missing):
            assert error.hint.endswith(HMAC_KEY_COMMAND), error.hint
    assert HMAC_KEY_COMMAND in readme
    assert HMAC_KEY_COMMAND in settings_doc
    # The command makes a secret long enough for every HMAC algorithm.
    assert len(secrets.token_urlsafe(64)) >= max(HMAC_MIN_BYTES.values())


def test_messages_speak_of_settings_not_the_demo_sites_variables() -> None:
    demo_settings = (ROOT / "project" / "settings.py").read_text()
    variables = set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', demo_settings))
    assert {"JWT_SECRET_KEY", "REDIS_URL", "DJANGO_HTTPS"} <= variables
    for module in ("checks.py", "keys.py"):
        source = (ROOT / "jwtauth" / module).read_text()
        named = {v for v in variables if re.search(rf"\b{v}\b", source)}
        assert named == set(), f"jwtauth/{module} names the demo site's {sorted(named)}"
        assert "demo" not in source


@pytest.mark.parametrize("name", ["ISSUER", "AUDIENCE"])
def test_issuer_and_audience_required(settings: Any, name: str) -> None:
    setattr(settings, f"JWTAUTH_{name}", "")
    assert ids(checks.check_claims()) == ["jwtauth.E010"]


def test_middleware_order(settings: Any) -> None:
    settings.MIDDLEWARE = [checks.JWT_MIDDLEWARE, checks.AUTH_MIDDLEWARE]
    assert ids(checks.check_middleware()) == ["jwtauth.E011"]


def test_middleware_order_knows_subclasses(settings: Any) -> None:
    # A project's own authentication middleware, built on Django's, overwrites request.user
    # just the same when it runs after jwtauth's.
    custom = "tests.test_middleware.SessionUserMiddleware"
    settings.MIDDLEWARE = [checks.JWT_MIDDLEWARE, custom]
    assert ids(checks.check_middleware()) == ["jwtauth.E011"]
    settings.MIDDLEWARE = [custom, checks.JWT_MIDDLEWARE]
    assert checks.check_middleware() == []


def test_unknown_cache_alias(settings: Any) -> None:
    settings.JWTAUTH_CACHE = "nope"
    assert ids(checks.check_cache()) == ["jwtauth.E012"]


def test_unshared_cache_warns_outside_debug(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.DEBUG = False
    [warning] = checks.check_cache()
    assert isinstance(warning, Warning)
    assert warning.id == "jwtauth.W001"
    settings.DEBUG = True
    assert checks.check_cache() == []


def test_insecure_cookies_warn_outside_debug(settings: Any) -> None:
    settings.JWTAUTH_COOKIES = True
    settings.JWTAUTH_COOKIE_SECURE = False
    settings.DEBUG = False
    assert ids(checks.check_cookies()) == ["jwtauth.W002"]
    settings.JWTAUTH_COOKIE_SECURE = True
    assert checks.check_cookies() == []


def test_checks_are_registered_with_the_check_command(settings: Any) -> None:
    settings.JWTAUTH_ALGORITHM = "none"
    with pytest.raises(SystemCheckError, match=r"jwtauth\.E002"):
        call_command("check")


def test_key_problems_are_error_level(settings: Any) -> None:
    settings.JWTAUTH_SECRET_KEY = ""
    assert all(isinstance(m, Error) for m in checks.check_keys())


def test_the_session_settings_are_valid_by_default() -> None:
    assert checks.check_sessions() == []


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("REFRESH_REUSE_INTERVAL", -1, "jwtauth.E018"),
        ("REFRESH_REUSE_INTERVAL", 301, "jwtauth.E018"),
        ("REFRESH_REUSE_INTERVAL", 2.5, "jwtauth.E018"),
        ("REFRESH_REUSE_INTERVAL", None, "jwtauth.E018"),
        ("MAX_SESSIONS_PER_USER", 0, "jwtauth.E019"),
        ("MAX_SESSIONS_PER_USER", "10", "jwtauth.E019"),
        ("SESSION_IDLE_TIMEOUT", timedelta(0), "jwtauth.E020"),
        ("SESSION_ABSOLUTE_LIFETIME", "30 days", "jwtauth.E020"),
    ],
)
def test_bad_session_settings(settings: Any, name: str, value: Any, check_id: str) -> None:
    setattr(settings, f"JWTAUTH_{name}", value)
    assert ids(checks.check_sessions()) == [check_id]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REFRESH_REUSE_INTERVAL", 0),
        ("REFRESH_REUSE_INTERVAL", 300),
        ("MAX_SESSIONS_PER_USER", None),
        ("SESSION_IDLE_TIMEOUT", None),
        ("SESSION_ABSOLUTE_LIFETIME", 3600),
    ],
)
def test_session_settings_at_their_bounds(settings: Any, name: str, value: Any) -> None:
    setattr(settings, f"JWTAUTH_{name}", value)
    assert checks.check_sessions() == []


def test_the_removed_grace_setting_warns(settings: Any) -> None:
    settings.JWTAUTH_REFRESH_REUSE_GRACE = 10
    assert ids(checks.check_sessions()) == ["jwtauth.W004"]


def test_the_checks_import_first_without_a_cycle() -> None:
    """A project without the admin imports jwtauth.checks before anything else of jwtauth."""
    code = (
        "import django; from django.conf import settings; "
        "settings.configure(INSTALLED_APPS=['django.contrib.auth', "
        "'django.contrib.contenttypes', 'jwtauth'], JWTAUTH_SECRET_KEY='k' * 64); "
        "django.setup(); import jwtauth.middleware"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_default_has_the_type_its_setting_is_read_as() -> None:
    from jwtauth.conf import type_errors

    assert type_errors() == {}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("USER_CACHE", "yes", "bool"),
        ("CACHE_MIN_REPLICAS", "2", "int or None"),
        ("CACHE_RETRY_AFTER", True, "float"),
        ("COOKIE_SAMESITE", "strict", "'Strict' or 'Lax' or 'None' or None"),
        ("SESSION_ONLY_NAMESPACES", "admin", "a list of str"),
        ("EXTRA_CLAIMS", 5, "str or a callable or None"),
        ("LOGIN_FAILURE_LIMIT", 5.0, "int"),
    ],
)
def test_a_setting_of_the_wrong_type_is_a_check_error(
    settings: Any, name: str, value: Any, expected: str
) -> None:
    setattr(settings, f"JWTAUTH_{name}", value)
    (error,) = checks.check_setting_types()
    assert error.id == "jwtauth.E022"
    assert error.msg == f"JWTAUTH_{name}={value!r} must be {expected}."


def test_numbers_of_seconds_may_be_whole() -> None:
    # CACHE_RETRY_AFTER is a float: an int is fine, a bool is not.
    from jwtauth.conf import _matches

    assert _matches(2, float)
    assert not _matches(True, float)
