"""Attack DPoP-bound tokens over real HTTP: RFC 9449 §11's list, for every kind of view.

Each attack runs against a plain view behind jwtauth's middleware (``/api/me/``), a DRF view
(``/api/drf/me/``) and a Ninja operation (``/api/ninja/me/``) of the demo site under gunicorn,
with proofs made by :class:`tests.security.holder.Holder` (``cryptography`` alone). A refusal
is jwtauth's 401 with a stable code and the ``DPoP`` challenge; ``test_control_*`` prove the
genuine requests pass, so each refusal is owed to its attack. §11.9 (authorization codes) and
§11.11 (client identity) have no counterpart here: logins take a password, and clients are not
registered; their nearest analogues (the login binds the refresh token; a replayed login proof)
are tested under their numbers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.security import forge, wire
from tests.security.conftest import Server
from tests.security.expect import refused_dpop
from tests.security.holder import DROP, Holder, ath

PATHS = {"middleware": "/api/me/", "drf": "/api/drf/me/", "ninja": "/api/ninja/me/"}
SKEW = 60  # JWTAUTH_DPOP_IAT_SKEW's default


@pytest.fixture(params=list(PATHS.values()), ids=list(PATHS))
def path(request: pytest.FixtureRequest) -> str:
    """Each way of protecting a view in turn."""
    return str(request.param)


def login(server: Server, holder: Holder, nonce: str | None = None, **changes: Any) -> Any:
    """Log alice in with a proof from ``holder``; return the raw answer."""
    url = server.url("/auth/login/")
    extra = {"nonce": nonce} if nonce else {}
    proof = holder.proof("POST", url, **extra, **changes)
    body = {"username": "alice", "password": PASSWORD}
    return server.request("POST", "/auth/login/", [("DPoP", proof)], body)


def bound_login(server: Server, holder: Holder, nonce: str | None = None) -> dict[str, Any]:
    """Log in with DPoP and return the bound pair."""
    response = login(server, holder, nonce)
    assert response.status == 200, response.body
    assert response.json()["token_type"] == "DPoP"
    return dict(response.json())


def call(
    server: Server,
    path: str,
    token: str,
    proof: str | None,
    method: str = "GET",
    scheme: str = "DPoP",
) -> wire.Response:
    """Send ``token`` under ``scheme`` with ``proof`` in the ``DPoP`` header (if any)."""
    headers: list[wire.Header] = [("Authorization", f"{scheme} {token}")]
    if proof is not None:
        headers.append(("DPoP", proof))
    return server.request(method, path, headers)


@pytest.fixture(scope="module")
def holder() -> Holder:
    """The legitimate client's key."""
    return Holder()


@pytest.fixture(scope="module")
def bound(es256: Server, holder: Holder) -> dict[str, Any]:
    """A pair bound to ``holder``'s key that no test ends."""
    return bound_login(es256, holder)


def genuine(server: Server, holder: Holder, path: str, token: str, **changes: Any) -> str:
    """Return the proof the legitimate client would send for a GET of ``path``."""
    return holder.proof("GET", server.url(path), token, **changes)


def test_control_the_genuine_request_is_accepted(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    response = call(es256, path, bound["access"], genuine(es256, holder, path, bound["access"]))
    assert response.status == 200, response.body
    assert response.json()["username"] == "alice"


def test_control_the_query_is_no_part_of_htu(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    # RFC 9449 §4.3: htu is compared without query and fragment.
    proof = genuine(es256, holder, path, bound["access"])
    assert call(es256, path + "?page=2", bound["access"], proof).status == 200


def test_control_an_ed25519_key_under_either_name(es256: Server, path: str) -> None:
    for alg in ("Ed25519", "EdDSA"):  # RFC 9864's name, and the older one
        client = Holder("Ed25519")
        client.alg = alg
        pair = bound_login(es256, client)
        proof = genuine(es256, client, path, pair["access"])
        assert call(es256, path, pair["access"], proof).status == 200


# -- §11.1 DPoP proof replay ----------------------------------------------------------------------


def test_a_replayed_proof_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    proof = genuine(es256, holder, path, bound["access"])
    assert call(es256, path, bound["access"], proof).status == 200
    for _ in range(3):  # whichever of the two workers it reaches
        refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_a_proof_fired_concurrently_is_accepted_once(
    es256: Server, holder: Holder, bound: dict[str, Any]
) -> None:
    proof = genuine(es256, holder, "/api/me/", bound["access"])
    start = threading.Barrier(6)
    statuses: list[int] = []

    def fire() -> None:
        start.wait()
        statuses.append(call(es256, "/api/me/", bound["access"], proof).status)

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]


def test_a_proof_older_than_the_window_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    stale = genuine(es256, holder, path, bound["access"], iat=int(time.time()) - SKEW - 5)
    refused_dpop(call(es256, path, bound["access"], stale), "invalid_dpop_proof")


# -- §11.2 DPoP proof pre-generation --------------------------------------------------------------


def test_a_proof_made_for_later_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    early = genuine(es256, holder, path, bound["access"], iat=int(time.time()) + SKEW + 5)
    refused_dpop(call(es256, path, bound["access"], early), "invalid_dpop_proof")


@pytest.fixture(scope="module")
def nonce_pair(dpop_server: Server) -> tuple[Holder, dict[str, Any], str]:
    """A client of the nonce server: its key, its bound pair, and the nonce it was given."""
    client = Holder()
    challenged = login(dpop_server, client)
    assert (challenged.status, challenged.code) == (400, "use_dpop_nonce")
    assert challenged.header("WWW-Authenticate") is None  # a token endpoint: no challenge
    nonce = challenged.header("DPoP-Nonce")
    assert nonce
    return client, bound_login(dpop_server, client, nonce), nonce


def test_control_with_nonces_the_nonce_opens_every_view(
    dpop_server: Server, nonce_pair: Any, path: str
) -> None:
    client, pair, nonce = nonce_pair
    proof = genuine(dpop_server, client, path, pair["access"], nonce=nonce)
    response = call(dpop_server, path, pair["access"], proof)
    assert response.status == 200, response.body
    assert response.header("DPoP-Nonce")  # the nonce to use next (§8.2)


@pytest.mark.parametrize(
    "nonce",
    [DROP, "", "not-a-nonce", "A" * 32, forge.b64url(b"\x00" * 8 + b"\x01" * 16)],
    ids=["none", "empty", "junk", "guessed", "forged-step"],
)
def test_with_nonces_a_proof_without_the_servers_nonce_is_refused_with_a_fresh_one(
    dpop_server: Server, nonce_pair: Any, path: str, nonce: Any
) -> None:
    client, pair, _ = nonce_pair
    proof = genuine(dpop_server, client, path, pair["access"], nonce=nonce)
    response = call(dpop_server, path, pair["access"], proof)
    refused_dpop(response, "use_dpop_nonce")
    assert response.header("DPoP-Nonce")


# -- §11.3 DPoP nonce downgrade -------------------------------------------------------------------


def test_with_nonces_a_client_cannot_fall_back_to_proofs_without_one(
    dpop_server: Server, nonce_pair: Any
) -> None:
    client, pair, nonce = nonce_pair
    url = dpop_server.url("/api/me/")
    assert (
        call(
            dpop_server,
            "/api/me/",
            pair["access"],
            client.proof("GET", url, pair["access"], nonce=nonce),
        ).status
        == 200
    )
    for _ in range(3):
        proof = client.proof("GET", url, pair["access"])
        refused_dpop(call(dpop_server, "/api/me/", pair["access"], proof), "use_dpop_nonce")


# -- §11.4 untrusted code in the client context: a stolen token (and proof) -----------------------


def test_a_stolen_bound_token_is_refused_as_bearer(
    es256: Server, bound: dict[str, Any], path: str
) -> None:
    # No downgrade (§7.1): the bound token alone is no bearer token.
    refused_dpop(call(es256, path, bound["access"], None, scheme="Bearer"), "token_invalid")


def test_a_stolen_bound_token_is_refused_with_the_thiefs_key(
    es256: Server, bound: dict[str, Any], path: str
) -> None:
    thief = Holder()
    proof = genuine(es256, thief, path, bound["access"])
    refused_dpop(call(es256, path, bound["access"], proof), "token_invalid")


def test_a_stolen_bound_token_is_refused_without_a_proof(
    es256: Server, bound: dict[str, Any], path: str
) -> None:
    refused_dpop(call(es256, path, bound["access"], None), "invalid_dpop_proof")


def test_a_stolen_proof_opens_nothing_but_its_own_request(
    es256: Server, holder: Holder, bound: dict[str, Any]
) -> None:
    proof = genuine(es256, holder, "/api/me/", bound["access"])
    for other in ("/api/drf/me/", "/api/ninja/me/", "/auth/sessions/"):
        refused_dpop(call(es256, other, bound["access"], proof), "invalid_dpop_proof")
    refused_dpop(call(es256, "/auth/logout/", bound["access"], proof, "POST"), "invalid_dpop_proof")


def test_a_stolen_refresh_token_is_refused_without_the_key_and_not_spent(
    es256: Server,
) -> None:
    owner, thief = Holder(), Holder()
    pair = bound_login(es256, owner)
    url = es256.url("/auth/refresh/")
    body = {"refresh": pair["refresh"]}
    for proof in (None, thief.proof("POST", url)):
        headers = [("DPoP", proof)] if proof else []
        response = es256.request("POST", "/auth/refresh/", headers, body)
        assert (response.status, response.code) == (400, "invalid_dpop_proof"), response.body
    rotated = es256.request("POST", "/auth/refresh/", [("DPoP", owner.proof("POST", url))], body)
    assert rotated.status == 200, rotated.body
    assert rotated.json()["token_type"] == "DPoP"
    access = rotated.json()["access"]
    assert call(es256, "/api/me/", access, genuine(es256, owner, "/api/me/", access)).status == 200


def test_a_stolen_bound_session_cannot_be_logged_out_without_the_key(es256: Server) -> None:
    owner, thief = Holder(), Holder()
    pair = bound_login(es256, owner)
    body = {"refresh": pair["refresh"]}
    url = es256.url("/auth/logout/")
    for headers in ([], [("DPoP", thief.proof("POST", url))]):
        refused_dpop(es256.request("POST", "/auth/logout/", headers, body), "invalid_dpop_proof")
    refused_dpop(
        call(es256, "/auth/logout/", pair["access"], None, "POST", "Bearer"), "token_invalid"
    )
    proof = genuine(es256, owner, "/api/me/", pair["access"])
    assert call(es256, "/api/me/", pair["access"], proof).status == 200  # still logged in


# -- §11.5 signed JWT swapping --------------------------------------------------------------------


def test_an_access_token_is_no_proof(es256: Server, bound: dict[str, Any], path: str) -> None:
    refused_dpop(call(es256, path, bound["access"], bound["access"]), "invalid_dpop_proof")


def test_a_proof_is_no_access_token(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    proof = genuine(es256, holder, path, bound["access"])
    refused_dpop(call(es256, path, proof, genuine(es256, holder, path, proof)), "token_invalid")


def test_a_refresh_token_is_no_access_token_under_dpop(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    proof = genuine(es256, holder, path, bound["refresh"])
    refused_dpop(call(es256, path, bound["refresh"], proof), "token_invalid")


# -- §11.6 signature algorithms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "signer"),
    [
        ({"alg": "none"}, None),
        ({"alg": "HS256"}, lambda data: forge.hmac_signer(b"x")(data)),
        ({"alg": "RS256"}, "own"),  # not in the default allowlist
        ({"alg": "ES384"}, "own"),
        ({"alg": "EdDSA"}, "own"),  # an EC key under an EdDSA name: the key type must match
        ({"typ": "JWT"}, "own"),
        ({"kid": "1"}, "own"),
    ],
    ids=["none", "hmac", "rs256", "es384", "key-type", "typ", "kid"],
)
def test_a_proof_signed_any_other_way_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str, header: Any, signer: Any
) -> None:
    proof = genuine(es256, holder, path, bound["access"], header=header, signer=signer)
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_a_proof_carrying_a_private_key_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    jwk = {**holder.jwk, "d": holder.private_member}
    proof = genuine(es256, holder, path, bound["access"], header={"jwk": jwk})
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_a_proof_with_a_bad_signature_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    head, body, _ = genuine(es256, holder, path, bound["access"]).split(".")
    other = genuine(es256, Holder(), path, bound["access"]).rsplit(".", 1)[1]
    refused_dpop(call(es256, path, bound["access"], f"{head}.{body}.{other}"), "invalid_dpop_proof")


# -- §11.7 request integrity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"htm": "POST"},
        {"htm": "get"},
        {"htu": "http://127.0.0.1:1/api/me/"},
        {"htu": "https://127.0.0.1/api/me/"},
        {"htu": "http://evil.example/api/me/"},
        {"htu": DROP},
        {"htm": DROP},
        {"jti": DROP},
        {"iat": DROP},
    ],
    ids=["method", "method-case", "port", "scheme", "host", "no-htu", "no-htm", "no-jti", "no-iat"],
)
def test_a_proof_for_another_request_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str, change: dict[str, Any]
) -> None:
    proof = genuine(es256, holder, path, bound["access"], **change)
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_a_proof_for_another_path_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    proof = holder.proof("GET", es256.url("/api/ping/"), bound["access"])
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_behind_a_trusting_proxy_htu_is_the_public_url(
    dpop_server: Server, nonce_pair: Any
) -> None:
    # What the client used (docs/dpop.md): https://api.example.test, rebuilt by Django from the
    # X-Forwarded-Host and X-Forwarded-Proto headers the proxy sets.
    client, pair, nonce = nonce_pair
    forwarded = [("X-Forwarded-Host", "api.example.test"), ("X-Forwarded-Proto", "https")]
    public = client.proof("GET", "https://api.example.test/api/me/", pair["access"], nonce=nonce)
    headers = [("Authorization", f"DPoP {pair['access']}"), ("DPoP", public), *forwarded]
    assert dpop_server.request("GET", "/api/me/", headers).status == 200
    internal = client.proof("GET", dpop_server.url("/api/me/"), pair["access"], nonce=nonce)
    headers = [("Authorization", f"DPoP {pair['access']}"), ("DPoP", internal), *forwarded]
    refused_dpop(dpop_server.request("GET", "/api/me/", headers), "invalid_dpop_proof")


def test_without_trusting_the_proxy_its_url_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any]
) -> None:
    proof = holder.proof("GET", "https://api.example.test/api/me/", bound["access"])
    headers = [
        ("Authorization", f"DPoP {bound['access']}"),
        ("DPoP", proof),
        ("X-Forwarded-Proto", "https"),
    ]
    refused_dpop(es256.request("GET", "/api/me/", headers), "invalid_dpop_proof")


# -- §11.8 access token and public key binding ----------------------------------------------------


@pytest.mark.parametrize(
    "ath_of",
    [
        lambda pair: DROP,
        lambda pair: ath(pair["refresh"]),
        lambda pair: ath(pair["access"]) + "A",
        lambda pair: ath(pair["access"]).upper(),
    ],
    ids=["missing", "other-token", "longer", "respelt"],
)
def test_a_proof_for_another_token_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str, ath_of: Any
) -> None:
    proof = genuine(es256, holder, path, bound["access"], ath=ath_of(bound))
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


# -- §11.9 (the login binds the session) and §11.10 hash algorithm agility ------------------------


def test_a_login_proof_is_good_for_one_login(es256: Server) -> None:
    client = Holder()
    url = es256.url("/auth/login/")
    proof = client.proof("POST", url)
    body = {"username": "alice", "password": PASSWORD}
    assert es256.request("POST", "/auth/login/", [("DPoP", proof)], body).status == 200
    again = es256.request("POST", "/auth/login/", [("DPoP", proof)], body)
    assert (again.status, again.code) == (400, "invalid_dpop_proof")
    assert again.header("WWW-Authenticate") is None  # RFC 9449 §5: a 400, no challenge


@pytest.mark.parametrize("digest", [hashlib.sha512, hashlib.sha384, hashlib.sha1])
def test_an_ath_under_another_hash_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str, digest: Any
) -> None:
    proof = genuine(es256, holder, path, bound["access"], ath=ath(bound["access"], digest))
    refused_dpop(call(es256, path, bound["access"], proof), "invalid_dpop_proof")


def test_a_token_bound_under_another_confirmation_method_is_refused(
    es256: Server, holder: Holder, bound: dict[str, Any], path: str
) -> None:
    # x5t#S256 (mTLS, RFC 8705) in place of jkt, signed with the real key: not a DPoP binding.
    forged = es256.resign(bound["access"], cnf={"x5t#S256": holder.thumbprint})
    refused_dpop(call(es256, path, forged, genuine(es256, holder, path, forged)), "token_invalid")


# -- no credential: both schemes offered ----------------------------------------------------------


def test_no_credential_is_offered_both_schemes(es256: Server, path: str) -> None:
    response = es256.request("GET", path)
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Bearer, DPoP algs="ES256 Ed25519 EdDSA"'
