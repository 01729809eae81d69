"""jwtauth's translations: the catalogues under jwtauth/locale, and the language a client gets.

Each catalogue must hold exactly the messages the source marks, every one translated (none
fuzzy), with its placeholders, and ship compiled: the .mo beside each .po must say what the .po
says. ``make messages`` re-extracts and compiles them (docs/i18n.md). A client picks its
language with ``Accept-Language`` (Django's ``LocaleMiddleware``): the ``detail`` it reads is
translated, the ``error`` code it branches on never is.
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.utils import translation

from jwtauth import sessions
from jwtauth.admin import TokenSessionAdmin
from jwtauth.conf import conf
from jwtauth.exceptions import TokenExpired, TokenTypeMismatch
from jwtauth.models import TokenSession
from jwtauth.tokens import ACCESS, REFRESH, decode
from tests.catalogs import Entry, Key, compiled, placeholders, read_mo, read_po
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jwtauth"
LOCALE = PACKAGE / "locale"
# Locale directory names (Django's to_locale spelling) of the catalogues jwtauth ships.
LANGUAGES = ("de", "es", "fr", "ja", "pt_BR", "zh_Hans")
# What `make messages` passes to makemessages; the extraction below must see the same.
MAKEMESSAGES = ("makemessages", "--no-obsolete", "--add-location=file")
GETTEXT_TOOLS = ("xgettext", "msgmerge", "msguniq", "msgattrib")
JWT_MIDDLEWARE = "jwtauth.middleware.JWTAuthenticationMiddleware"
# Counts above one, which between them pick every plural form but one's in the shipped
# languages. Zero is left out: French and Portuguese give it the form for one, which may drop
# the count as English's singular does, and no such message is ever shown for zero.
PLURAL_COUNTS = (2, 3, 5, 11, 21, 101, 1_000_000)


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Leave no language active: LocaleMiddleware's stays in the thread after a request."""
    translation.deactivate()
    yield
    translation.deactivate()


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def header(entries: list[Entry]) -> dict[str, str]:
    assert entries[0].msgid == "", "the header must come first"
    lines = entries[0].forms[0].splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def nplurals(entries: list[Entry]) -> int:
    return int(header(entries)["Plural-Forms"].split("nplurals=")[1].split(";")[0])


# --- the catalogues --------------------------------------------------------------------


def test_every_shipped_language_has_a_source_and_a_compiled_catalogue() -> None:
    assert sorted(p.name for p in LOCALE.iterdir() if p.is_dir()) == sorted(LANGUAGES)
    for language in LANGUAGES:
        assert po_path(language).is_file()
        assert mo_path(language).is_file(), f"{language}: no .mo; run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(language: str) -> None:
    entries = read_po(po_path(language))
    assert header(entries)["Language"] == language
    forms = nplurals(entries)
    problems = {
        "fuzzy": [e.msgid for e in entries if "fuzzy" in e.flags],
        "obsolete": [e.msgid for e in entries if e.obsolete],
        "untranslated": [e.msgid for e in entries[1:] if not e.forms or not all(e.forms)],
        f"not {forms} plural forms": [
            e.msgid for e in entries if e.msgid_plural is not None and len(e.forms) != forms
        ],
    }
    assert {k: v for k, v in problems.items() if v} == {}, f"translate them in {language}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_says_what_its_source_says(language: str) -> None:
    source = compiled(read_po(po_path(language)))
    shipped = read_mo(mo_path(language))
    stale = sorted(k[1] for k in source.keys() ^ shipped.keys())
    changed = sorted(k[1] for k in source.keys() & shipped.keys() if source[k] != shipped[k])
    assert (stale, changed) == ([], []), f"{language}: the .mo is stale; run `make messages`"


def plural_form(entries: list[Entry]) -> Callable[[int], int]:
    """Return the catalogue's Plural-Forms rule: count to form index (gettext's own parser)."""
    return gettext.c2py(header(entries)["Plural-Forms"].split("plural=")[1].rstrip(";"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder(language: str) -> None:
    entries = read_po(po_path(language))
    form_of = plural_form(entries)
    wrong = []
    for entry in entries[1:]:
        singular = set(placeholders(entry.msgid))
        for index, text in enumerate(entry.forms):
            found = placeholders(text)
            if entry.msgid_plural is None:
                ok = found == placeholders(entry.msgid)
            elif index in {form_of(n) for n in PLURAL_COUNTS}:
                ok = found == placeholders(entry.msgid_plural)
            else:
                # The form for one alone may drop the count ("this token"), as English does.
                ok = singular <= set(found) <= singular | set(placeholders(entry.msgid_plural))
            if not ok:
                wrong.append((entry.msgid, text))
        if "python-format" in entry.flags:
            values = {name: 1 for name in _names(entry)}
            for text in entry.forms:
                try:
                    text % values
                except (KeyError, TypeError, ValueError) as e:
                    wrong.append((entry.msgid, f"{text} ({e!r})"))
    assert wrong == []


def _names(entry: Entry) -> set[str]:
    found = placeholders(entry.msgid) + placeholders(entry.msgid_plural or "")
    return {p[2 : p.index(")")] for p in found if p.startswith("%(")}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: Any) -> set[Key]:
    """Return the messages ``makemessages`` extracts from the source now, as a set of keys."""
    missing = [tool for tool in GETTEXT_TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"GNU gettext ({', '.join(missing)}) is missing: apt-get install gettext"
        if IN_CI:
            pytest.fail(f"CI must provide it: {reason}")
        pytest.skip(reason)
    tree = tmp_path_factory.mktemp("extract") / "jwtauth"
    shutil.copytree(PACKAGE, tree, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (tree / "locale").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-P", "-m", "django", *MAKEMESSAGES, "--locale", "de"],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return {e.key for e in read_po(tree / "locale" / "de" / "LC_MESSAGES" / "django.po")[1:]}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_holds_exactly_the_messages_of_the_source(
    extracted: set[Key], language: str
) -> None:
    assert len(extracted) > 100  # the extraction did find jwtauth's messages
    shipped = {e.key for e in read_po(po_path(language))[1:]}
    new, gone = sorted(extracted - shipped), sorted(shipped - extracted)
    assert (new, gone) == ([], []), f"{language}: run `make messages`, then translate"


# --- a client's language ---------------------------------------------------------------


@pytest.fixture
def expired(user: Any, clock: Any) -> dict[str, str]:
    """Return test-client kwargs carrying an access token that has just expired."""
    pair = sessions.start(user)
    clock.shift(conf.access_lifetime)
    return {"HTTP_AUTHORIZATION": f"Bearer {pair.access}"}


# The demo API through the middleware alone, and through each adapter with and without it.
ROUTES = [
    ("/api/me/", True),
    ("/api/drf/me/", True),
    ("/api/drf/me/", False),
    ("/api/ninja/me/", True),
    ("/api/ninja/me/", False),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "middleware"), ROUTES)
def test_an_expired_token_is_explained_in_german_with_its_stable_code(
    client: Client, settings: Any, expired: dict[str, str], path: str, middleware: bool
) -> None:
    if not middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != JWT_MIDDLEWARE]
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.8", **expired)
    assert response.status_code == 401
    assert response.json() == {"error": "token_expired", "detail": "Das Token ist abgelaufen."}
    assert response["Content-Language"] == "de"
    assert "Accept-Language" in response["Vary"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "language"),
    [
        ("fr-CA,fr;q=0.9", "fr"),
        ("es-419,es;q=0.9", "es"),
        ("pt-BR,pt;q=0.9", "pt-br"),
        ("ja-JP,ja;q=0.9", "ja"),
        ("zh-CN,zh;q=0.9", "zh-hans"),
    ],
)
def test_each_shipped_language_reaches_the_client(
    client: Client, expired: dict[str, str], accept: str, language: str
) -> None:
    response = client.get("/api/me/", HTTP_ACCEPT_LANGUAGE=accept, **expired)
    with translation.override(language):
        translated = str(TokenExpired.default_detail)
    assert translated != "The token has expired."
    assert response.json() == {"error": "token_expired", "detail": translated}
    assert response["Content-Language"] == language
    # RFC 6750 §3: the challenge's description is ASCII for the client's developer, in English
    # whatever the language (it used to keep only the ASCII letters of the translation).
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The token has expired."'
    )


@pytest.mark.django_db
def test_a_detail_formatted_in_another_language_leaves_an_english_challenge(
    client: Client, user: Any
) -> None:
    auth = {"HTTP_AUTHORIZATION": "Bearer " + "x" * 8000}  # too long: a formatted refusal
    response = client.get("/api/me/", HTTP_ACCEPT_LANGUAGE="ja", **auth)
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert challenge.isascii()
    assert len(challenge) > len('Bearer error="invalid_token", error_description=""') + 10


@pytest.mark.django_db
@pytest.mark.parametrize("accept", [None, "sv-SE,sv;q=0.9"], ids=["no header", "no catalogue"])
def test_without_a_shipped_language_the_answer_stays_english(
    client: Client, expired: dict[str, str], accept: str | None
) -> None:
    headers = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    response = client.get("/api/me/", **headers, **expired)
    assert response.json() == {"error": "token_expired", "detail": "The token has expired."}


@pytest.mark.django_db
def test_a_translated_message_keeps_the_value_of_its_placeholder(client: Client) -> None:
    response = client.post(
        "/auth/login/",
        {"username": 5, "password": "x"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "detail": "Das Feld „username“ ist erforderlich und muss eine Zeichenkette sein.",
    }


# --- strings made translatable (regressions) -------------------------------------------


@pytest.mark.django_db
def test_a_token_of_the_wrong_type_is_named_in_a_whole_sentence(pair: Any) -> None:
    # The type used to be put into "The token is not an %(token_type)s token.": untranslatable,
    # and English read "an refresh token".
    with pytest.raises(TokenTypeMismatch) as access_as_refresh:
        decode(pair.access, REFRESH)
    with pytest.raises(TokenTypeMismatch) as refresh_as_access:
        decode(pair.refresh, ACCESS)
    assert str(access_as_refresh.value.detail) == "The token is not a refresh token."
    assert str(refresh_as_access.value.detail) == "The token is not an access token."
    with translation.override("de"):
        assert str(access_as_refresh.value.detail) == "Das Token ist kein Aktualisierungstoken."
        assert str(refresh_as_access.value.detail) == "Das Token ist kein Zugriffstoken."


@pytest.mark.django_db
def test_the_admin_shows_session_states_in_the_administrators_language(
    admin_client: Client, user: Any
) -> None:
    # The state column and the confirmation list used to show the raw code ("live").
    pair = sessions.start(user)
    pk = TokenSession.objects.get(sid=decode(pair.access, ACCESS).sid).pk
    german = {"HTTP_ACCEPT_LANGUAGE": "de"}
    changelist = "/admin/jwtauth/tokensession/"
    page = admin_client.get(changelist, **german).content.decode()
    assert '<td class="field-state_display">aktiv</td>' in page
    assert "Ausgewählte Sitzungen widerrufen" in page
    confirm = admin_client.post(
        changelist,
        {"action": "revoke_selected_sessions", "_selected_action": [pk]},
        **german,
    ).content.decode()
    assert "Die ausgewählten Sitzungen widerrufen?" in confirm
    assert " · aktiv · " in confirm
    done = admin_client.post(
        changelist,
        {"action": "revoke_selected_sessions", "_selected_action": [pk], "post": "yes"},
        follow=True,
        **german,
    )
    assert [str(m) for m in done.context["messages"]] == [
        "1 Sitzung widerrufen; ihre Tokens werden ab der nächsten Anfrage abgewiesen."
    ]
    assert '<td class="field-state_display">widerrufen</td>' in done.content.decode()


def test_a_session_state_label_agrees_with_session_not_token() -> None:
    # One msgid "revoked" served both; French needs "révoquée" (la session), not "révoqué".
    state = TokenSessionAdmin(TokenSession, site).state_display
    with translation.override("fr"):
        assert [state(SimpleNamespace(state=s)) for s in ("live", "revoked", "expired")] == [
            "active",
            "révoquée",
            "expirée",
        ]
