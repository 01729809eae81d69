"""Attack the claims: tampering, issuer and audience, subject and session, and the times.

RFC 8725 §3.8 (issuer and subject), §3.9 (audience), RFC 7519 §4.1.4-4.1.6 (``exp``, ``nbf``,
``iat``) and jwt_tool's tamper mode (-T / -I). Tampering keeps the original signature; every
other test re-signs with the server's real key, so only the one bad claim can explain a 401.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.security import forge
from tests.security.conftest import AUDIENCE, DROP, ISSUER, Server
from tests.security.expect import refused

# The first second of year 10000: past every date the server can store or compute with.
YEAR_10000 = 253402300800


@pytest.fixture(scope="module", params=["HS256", "ES256"])
def server(request: pytest.FixtureRequest, servers: dict[str, Server]) -> Server:
    """One symmetric and one asymmetric server: claim checks do not depend on the algorithm."""
    return servers[request.param]


def _bob_id(server: Server) -> str:
    return str(server.stack.query("SELECT id FROM auth_user WHERE username = 'bob'")[0][0])


def _claims(server: Server) -> dict[str, Any]:
    return forge.parts(server.pair["access"])[1]


# -- tampering under the original signature (jwt_tool -T) ------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c, bob: {"sub": bob}, id="sub-to-another-user"),
        pytest.param(lambda c, bob: {"exp": c["exp"] + 86400}, id="exp-extended"),
        pytest.param(lambda c, bob: {"is_staff": True, "is_superuser": True}, id="claims-added"),
        pytest.param(lambda c, bob: {"jti": "A" * 22}, id="jti-swapped"),
        pytest.param(lambda c, bob: {"sid": "B" * 22}, id="sid-swapped"),
        pytest.param(lambda c, bob: {"aud": [c["aud"], "admin"]}, id="aud-widened"),
    ],
)
def test_payload_tampered_under_original_signature(server: Server, change: Any) -> None:
    head, _, sig = server.pair["access"].split(".")
    claims = _claims(server)
    claims.update(change(claims, _bob_id(server)))
    refused(server.me(f"{head}.{forge.segment(claims)}.{sig}"), "token_invalid")


def test_header_tampered_under_original_signature(server: Server) -> None:
    _, body, sig = server.pair["access"].split(".")
    header = forge.parts(server.pair["access"])[0] | {"typ": "JWT"}
    refused(server.me(f"{forge.segment(header)}.{body}.{sig}"), "token_invalid")


def test_segments_swapped(server: Server) -> None:
    head, body, sig = server.pair["access"].split(".")
    refused(server.me(f"{body}.{head}.{sig}"), "token_invalid")


def test_payload_of_one_token_under_the_signature_of_another(server: Server) -> None:
    """Splice: alice's header and signature around the payload of her refresh token."""
    head, _, sig = server.pair["access"].split(".")
    body = server.pair["refresh"].split(".")[1]
    refused(server.me(f"{head}.{body}.{sig}"), "token_invalid")


# -- issuer and audience (RFC 8725 §2.7, §3.8, §3.9) -------------------------------------------


@pytest.mark.parametrize(
    "iss",
    ["https://evil.test", ISSUER + "/", ISSUER.upper(), " " + ISSUER, "", None, [ISSUER], DROP],
    ids=repr,
)
def test_another_issuer(server: Server, iss: Any) -> None:
    refused(server.me(server.resign(server.pair["access"], iss=iss)), "token_invalid")


@pytest.mark.parametrize(
    "aud",
    ["another-api", AUDIENCE.upper(), AUDIENCE + " ", "", None, [], ["another-api"], 1, DROP],
    ids=repr,
)
def test_another_audience(server: Server, aud: Any) -> None:
    refused(server.me(server.resign(server.pair["access"], aud=aud)), "token_invalid")


def test_audience_as_object(server: Server) -> None:
    aud = {AUDIENCE: True}
    refused(server.me(server.resign(server.pair["access"], aud=aud)), "token_invalid")


# -- subject, session and token ids ------------------------------------------------------------


def test_subject_of_another_user_in_my_session(server: Server) -> None:
    """Even signed with the real key, a ``sub`` that does not own the ``sid`` is dead."""
    # The spare session: the server may remember it as dead for a while.
    token = server.resign(server.spare["access"], sub=_bob_id(server))
    refused(server.me(token), "token_revoked")


@pytest.mark.parametrize(
    "sub", ["999999999", "abc", "1.0", "01", " 1", "-1", "", None, 1, "\ud800", DROP], ids=repr
)
def test_subject_not_a_user(server: Server, sub: Any) -> None:
    refused(server.me(server.resign(server.spare["access"], sub=sub)))


def test_subject_of_another_user_in_a_warm_session(server: Server) -> None:
    """With both users' entries cached, a ``sub``/``sid`` mismatch is still dead, and harmless.

    A key holder with one session of their own must not become any recently active user;
    and alice's own session must not be taken for dead afterwards.
    """
    alice, bob = server.login(), server.login("bob")
    assert server.me(alice["access"]).status == 200
    assert server.me(bob["access"]).status == 200
    bob_id = forge.parts(bob["access"])[1]["sub"]
    for _ in range(3):  # both workers
        refused(server.me(server.resign(alice["access"], sub=bob_id)), "token_revoked")
    assert server.me(alice["access"]).status == 200


def test_session_of_another_user(server: Server) -> None:
    """A genuine ``sid`` of bob's with alice's ``sub``: the session does not belong to her."""
    bob_sid = forge.parts(server.login("bob")["access"])[1]["sid"]
    refused(server.me(server.resign(server.pair["access"], sid=bob_sid)), "token_revoked")


@pytest.mark.parametrize(
    "sid",
    ["unknown-session", "A" * 64, "A" * 65, "A" * 255, "A" * 256, "", None, 7, "\ud800", DROP],
)
def test_session_unknown_or_malformed(server: Server, sid: Any) -> None:
    refused(server.me(server.resign(server.pair["access"], sid=sid)))


@pytest.mark.parametrize("jti", ["", None, 7, "A" * 65, "A" * 256, "\ud800", DROP], ids=repr)
def test_token_id_malformed(server: Server, jti: Any) -> None:
    refused(server.me(server.resign(server.pair["access"], jti=jti)), "token_invalid")


# -- exp, nbf and iat (RFC 7519 §4.1.4-4.1.6) --------------------------------------------------


def _now() -> int:
    return int(time.time())


def _times(server: Server, **claims: Any) -> str:
    return server.resign(server.pair["access"], **claims)


@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(lambda now: DROP, id="missing"),
        pytest.param(lambda now: now - 1, id="past"),
        pytest.param(lambda now: now - 3600, id="hour-ago"),
        pytest.param(lambda now: 0, id="zero"),
        pytest.param(lambda now: -1, id="negative"),
        pytest.param(lambda now: -(2**63), id="very-negative"),
        pytest.param(lambda now: str(now + 3600), id="string"),
        pytest.param(lambda now: float(now + 3600), id="float"),
        pytest.param(lambda now: now + 3600.5, id="fractional"),
        pytest.param(lambda now: True, id="boolean"),
        pytest.param(lambda now: None, id="null"),
        pytest.param(lambda now: [now + 3600], id="list"),
        pytest.param(lambda now: YEAR_10000, id="year-10000"),
        pytest.param(lambda now: 2**40, id="2**40"),
        pytest.param(lambda now: 2**63, id="2**63"),
        pytest.param(lambda now: 2**64 + 1, id="2**64+1"),
        pytest.param(lambda now: 10**400, id="400-digits"),
    ],
)
def test_exp_edge_cases(server: Server, exp: Any) -> None:
    refused(server.me(_times(server, exp=exp(_now()))))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "1e3", "9" * 4000])
def test_exp_json_number_oddities(server: Server, value: str) -> None:
    """Numbers Python's JSON reader turns into floats, infinities or huge integers."""
    header, claims = forge.parts(server.pair["access"])
    raw = _raw_claims(claims, "exp", value)
    refused(server.me(forge.sign(header, raw, server.signer())))


def _raw_claims(claims: dict[str, Any], name: str, literal: str) -> str:
    members = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in claims.items() if k != name]
    return "{" + ",".join([*members, f'"{name}":{literal}']) + "}"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda now: DROP, id="missing"),
        pytest.param(lambda now: now + 60, id="minute-ahead"),
        pytest.param(lambda now: now + 10 * 365 * 86400, id="far-future"),
        pytest.param(lambda now: str(now), id="string"),
        pytest.param(lambda now: float(now), id="float"),
        pytest.param(lambda now: -1, id="negative"),
        pytest.param(lambda now: None, id="null"),
        pytest.param(lambda now: 2**63, id="huge"),
    ],
)
def test_nbf_and_iat_edge_cases(server: Server, claim: str, value: Any) -> None:
    """RFC 7519 §4.1.5, §4.1.6: not before ``nbf``, not issued in the future, integers only."""
    refused(server.me(_times(server, **{claim: value(_now())})), "token_invalid")


def test_exp_not_after_iat(server: Server) -> None:
    now = _now()
    refused(server.me(_times(server, iat=now + 7200, nbf=now - 60, exp=now + 3600)))


def test_expired_by_one_second(server: Server) -> None:
    """RFC 7519 §4.1.4: not on or after ``exp`` (the servers run with no leeway)."""
    now = _now()
    refused(server.me(_times(server, iat=now - 600, nbf=now - 600, exp=now)), "token_expired")


def test_control_times_moved_but_valid(server: Server) -> None:
    """The same re-signing with sane times is accepted: the refusals above are about time."""
    now = _now()
    token = _times(server, iat=now - 600, nbf=now - 600, exp=now + 600)
    assert server.me(token).status == 200


def test_far_future_exp_is_still_revocable(server: Server) -> None:
    """A long-lived token (only a key holder can make one) still dies at logout, no 5xx."""
    pair = server.login()
    token = server.resign(pair["access"], exp=YEAR_10000 - 1)
    assert server.me(token).status == 200
    response = server.request("POST", "/auth/logout/", token=token)
    assert response.status == 204, response.body
    refused(server.me(token), "token_revoked")
    refused(server.me(pair["access"]), "token_revoked")
