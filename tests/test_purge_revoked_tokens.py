"""Tests of the purge_revoked_tokens management command (cron's entry point to jwtauth.purge)."""

from __future__ import annotations

import io
import os
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from hypothesis import event, given
from hypothesis import strategies as st

from jwtauth import revocation
from jwtauth.clock import now
from jwtauth.models import RevokedToken, TokenSession, UserCutoff
from services import free_port
from tests.security.strategies import fuzz_settings
from tests.servers import demo_env, manage
from tests.test_purge import HOUR, mixed, revoked_rows, sessions

ROOT = Path(__file__).resolve().parent.parent
BATCH_LINE = re.compile(
    r"^(revoked tokens|sessions|user cutoffs|deleted users): batch (\d+) deleted (\d+) rows "
    r"\(pk \S+ < pk <= \d+\) in \d+\.\d{3} s$"
)


def purge(*args: str) -> str:
    """Run the command with ``args`` and return what it printed."""
    out = io.StringIO()
    call_command("purge_revoked_tokens", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def tables(clock: Any, user: Any, other_user: Any, settings: Any) -> dict[str, Any]:
    """Fill all three tables with dead and live rows; return what must survive."""
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=7)
    dead_tokens, live_tokens = mixed(45)  # 30 dead, 15 live
    dead_sessions = sessions(user, [-HOUR] * 4 + [-24 * HOUR] * 3)
    live_sessions = sessions(user, [HOUR, 24 * HOUR])
    UserCutoff.objects.create(user=user, cutoff=now() - timedelta(days=8))
    UserCutoff.objects.create(user=other_user, cutoff=now() - timedelta(days=6))
    return {
        "dead": (len(dead_tokens), len(dead_sessions), 1),
        "live_tokens": live_tokens,
        "live_sessions": {s.sid for s in live_sessions},
        "live_cutoffs": {other_user.pk},
    }


def survivors() -> tuple[set[str], set[str], set[Any]]:
    """Return the jtis, sids and cutoff user ids left in the database."""
    return (
        set(RevokedToken.objects.values_list("jti", flat=True)),
        set(TokenSession.objects.values_list("sid", flat=True)),
        set(UserCutoff.objects.values_list("user_id", flat=True)),
    )


@pytest.mark.django_db
def test_deletes_exact_counts_and_prints_one_summary_line(tables: dict[str, Any]) -> None:
    output = purge("--batch-size", "4")

    lines = output.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"Deleted 30 revoked tokens, 7 sessions, 1 user cutoffs, 0 deleted users "
        r"in 11 batches \(\d+\.\d\d s\)\.",
        lines[0],
    )
    assert survivors() == (tables["live_tokens"], tables["live_sessions"], tables["live_cutoffs"])


@pytest.mark.django_db
def test_a_second_run_finds_nothing(tables: dict[str, Any]) -> None:
    purge()

    assert purge().startswith(
        "Deleted 0 revoked tokens, 0 sessions, 0 user cutoffs, 0 deleted users in 0 batches"
    )


@pytest.mark.django_db
def test_dry_run_counts_and_deletes_nothing(tables: dict[str, Any]) -> None:
    before = survivors()

    with CaptureQueriesContext(connection) as queries:
        output = purge("--dry-run")

    assert output.startswith(
        "Dry run: would delete 30 revoked tokens, 7 sessions, 1 user cutoffs, 0 deleted users; "
        "nothing was deleted"
    )
    assert not [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert survivors() == before


@pytest.mark.django_db
def test_verbosity_2_prints_a_line_per_batch(tables: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        output = purge("--batch-size", "8", "-v", "2")

    *batch_lines, summary = output.splitlines()
    parsed = [BATCH_LINE.fullmatch(line) for line in batch_lines]
    assert all(parsed), batch_lines
    per_table = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in parsed if m]
    assert per_table == [
        ("revoked tokens", 1, 8),
        ("revoked tokens", 2, 8),
        ("revoked tokens", 3, 8),
        ("revoked tokens", 4, 6),
        ("sessions", 1, 7),
        ("user cutoffs", 1, 1),
    ]
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == len(batch_lines) == 6
    assert "in 6 batches" in summary


@pytest.mark.django_db
def test_verbosity_0_prints_nothing(tables: dict[str, Any]) -> None:
    assert purge("-v", "0") == ""
    assert survivors()[0] == tables["live_tokens"]


@pytest.mark.django_db
def test_batch_size_bounds_every_delete(tables: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        output = purge("--batch-size", "1", "-v", "2")

    rows = [int(m.group(3)) for m in map(BATCH_LINE.fullmatch, output.splitlines()) if m]
    assert rows == [1] * 38
    assert len([q for q in queries.captured_queries if q["sql"].startswith("DELETE")]) == 38


@pytest.mark.django_db
@pytest.mark.parametrize("grace", ["7200", "2h", "120m", "7200s", "P0DT2H", "02:00:00", "0.0833d"])
def test_older_than_keeps_rows_dead_for_less_than_the_grace(clock: Any, grace: str) -> None:
    revoked_rows([-3 * HOUR, -HOUR, -timedelta(minutes=1)])

    output = purge("--older-than", grace)

    assert output.startswith("Deleted 1 revoked tokens")
    assert RevokedToken.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "is not a duration"),
        (["--older-than", "-5"], "is not a duration"),
        (["--batch-size", "0"], "is not a whole number from 1 to 1000000"),
        (["--batch-size", "many"], "is not a whole number from 1 to 1000000"),
        (["--sleep", "-1"], "is not a number of seconds"),
        (["--sleep", "forever"], "is not a number of seconds"),
    ],
)
def test_bad_options_are_refused_clearly(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        purge(*args)


@pytest.mark.parametrize(
    "grace", ["99999999999d", "P99999999999D", "99999999999:00:00", "9" * 400, "3651d"]
)
def test_a_grace_too_long_to_compute_is_refused_clearly(grace: str) -> None:
    with pytest.raises(CommandError, match="is longer than the longest grace period, 3650 days"):
        purge("--older-than", grace)


def test_an_unknown_database_alias_is_refused_clearly() -> None:
    with pytest.raises(CommandError, match="'replica' is not a database alias"):
        purge("--database", "replica")


def test_a_batch_size_beyond_any_statement_is_refused_clearly() -> None:
    with pytest.raises(CommandError, match="is not a whole number from 1 to 1000000"):
        purge("--batch-size", "9" * 30)


def test_lifetimes_reaching_before_year_1_are_refused_clearly(settings: Any) -> None:
    settings.JWTAUTH_REFRESH_TOKEN_LIFETIME = timedelta(days=999_000_000)

    with pytest.raises(CommandError, match="reaches before year 1"):
        purge()


DURATION_LIKE = (
    st.from_regex(r"[-+]?[0-9]{1,30}(\.[0-9]{1,12})?\s?[smhdwSMHDWx]?", fullmatch=True)
    | st.from_regex(r"-?P([0-9]{1,14}D)?(T[0-9]{1,14}H)?([0-9]{1,14}M)?", fullmatch=True)
    | st.from_regex(
        r"-?[0-9]{1,14} ([0-9]{1,14}:)?[0-9]{1,14}:[0-9]{2}(\.[0-9]{1,9})?", fullmatch=True
    )
    | st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-400", "-0", "0x10", "\u0663d", "", " "])
)
OPTION_VALUES = DURATION_LIKE | st.text(max_size=30) | st.just("default")
OPTIONS = ["--older-than", "--batch-size", "--sleep", "--database"]
OPTION = st.tuples(st.sampled_from(OPTIONS), OPTION_VALUES).map(list)
# Mostly options with values; now and then a flag, or a stray word the command does not take.
ARGUMENTS = st.lists(
    st.one_of(OPTION, OPTION, OPTION, st.just(["--dry-run"]), st.lists(st.text(), max_size=1)),
    max_size=4,
).map(lambda groups: [arg for group in groups for arg in group])


@pytest.mark.django_db
@fuzz_settings(200)
@given(args=ARGUMENTS)
def test_any_arguments_end_in_a_summary_or_a_command_error(args: list[str]) -> None:
    try:
        output = purge(*args)
    except CommandError as e:
        option = re.search(r"--[a-z-]+|unrecognized arguments", str(e))
        event(f"refused: {option[0] if option else str(e)}")
        return
    event("purged")
    assert output.startswith(("Deleted 0 revoked tokens", "Dry run: would delete 0"))


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Return the environment of a demo site on a migrated SQLite file of its own."""
    env = demo_env(tmp_path_factory.mktemp("purge") / "db.sqlite3")
    manage(env, "migrate", "jwtauth", "--verbosity", "0").check_returncode()
    return env


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--older-than", "99999999999d"], 2, "is longer than the longest grace period"),
        (["--older-than", "P99999999999D"], 2, "is longer than the longest grace period"),
        (["--batch-size", "9" * 5000], 2, "is not a whole number from 1 to 1000000"),
        (["--sleep", "nan"], 2, "is not a number of seconds"),
        (["--database", "replica"], 1, "'replica' is not a database alias"),
        (["--older-than", "2d", "--batch-size", "10"], 0, "Deleted 0 revoked tokens"),
    ],
)
def test_manage_py_answers_a_usage_error_or_a_summary_never_a_traceback(
    migrated_sqlite: dict[str, str], args: list[str], status: int, message: str
) -> None:
    result = manage(migrated_sqlite, "purge_revoked_tokens", *args)

    assert result.returncode == status, result.stderr
    assert message in (result.stdout if status == 0 else result.stderr)
    assert "Traceback" not in result.stderr


def test_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "empty.sqlite3")

    result = manage(env, "purge_revoked_tokens")

    assert result.returncode == 1
    assert (
        "purge_revoked_tokens failed: the database is not migrated (OperationalError: no such table"
        in result.stderr
    )
    assert "Run 'python manage.py migrate' first." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_sleep_between_batches(clock: Any) -> None:
    revoked_rows([-HOUR] * 3)

    output = purge("--batch-size", "1", "--sleep", "0.001")

    assert "Deleted 3 revoked tokens" in output
    assert not RevokedToken.objects.exists()


@pytest.mark.django_db
def test_a_revoked_token_still_inside_the_leeway_stays_refused(
    clock: Any, client: Any, settings: Any, pair: Any
) -> None:
    settings.JWTAUTH_LEEWAY = 60
    token = pair.access_token
    revocation.revoke(token)
    clock.shift(token.exp - int(now().timestamp()) + 30)  # expired, but inside the leeway

    purge()
    cache.delete(revocation.token_key(token.jti))  # let the database answer
    inside = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    clock.shift(31)
    purge()
    after = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair.access}")

    assert (inside.status_code, inside.json()["error"]) == (401, "token_revoked")
    assert not RevokedToken.objects.exists()
    assert (after.status_code, after.json()["error"]) == (401, "token_expired")


@pytest.mark.django_db
def test_live_sessions_keep_working_after_a_purge(
    clock: Any, client: Any, pair: Any, user: Any
) -> None:
    sessions(user, [-HOUR] * 5)
    clock.shift(60)

    output = purge()

    assert output.startswith("Deleted 0 revoked tokens, 5 sessions")
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair.access}").status_code == 200
    refreshed = client.post(
        "/auth/refresh/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert refreshed.status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_both_succeed_with_the_right_total(clock: Any) -> None:
    dead, live = mixed(3300)  # 2200 dead, 1100 live, interleaved
    start = threading.Barrier(2)
    outputs: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            outputs.append(purge("--batch-size", "50"))
        except BaseException as e:  # reported below, with the other thread's result
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    counts = [int(m[1]) for o in outputs if (m := re.match(r"Deleted (\d+) revoked tokens", o))]
    assert len(counts) == 2
    assert sum(counts) == len(dead)
    assert set(RevokedToken.objects.values_list("jti", flat=True)) == live


def test_database_down_exits_non_zero_with_a_clear_message() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CI"}}
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/jwtauth_gone"

    result = manage(env, "purge_revoked_tokens", "--settings=tests.settings")

    assert result.returncode == 1
    assert "purge_revoked_tokens failed: database error (OperationalError:" in result.stderr
    assert "running the command again is safe" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
