"""The DPoP client helpers: proofs any RFC 9449 verifier accepts, and httpx over real HTTP.

Two independent checks keep the client and the verifier from merely agreeing with each other:
the client's proofs are verified by PyJWT alone (with the thumbprint and ``ath`` computed here
from the RFCs), and the server below also verifies proofs made by PyJWT alone
(``tests.test_dpop.Holder``). The HTTP tests run Django's live server (a real socket and
thread) with two views wired the way the integration will wire jwtauth's: a resource and a
token endpoint.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from jwtauth import dpop
from jwtauth.contrib.httpx import DPoPAuth
from jwtauth.dpop.client import DPoPKey, htu
from jwtauth.middleware import lenient
from tests.test_dpop import JWS, NOW, TOKEN, URL, Holder, ath_of, thumbprint_of, verify

# -- the client's proofs, checked by the verifier and by PyJWT alone -----------------------------


@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "EdDSA"])
def test_the_verifier_accepts_the_clients_proofs(clock: Any, alg: str) -> None:
    key = DPoPKey.generate(alg)
    proof = verify(key.proof("GET", URL + "?q=1#f", access_token=TOKEN))
    assert (proof.jkt, proof.alg, proof.iat) == (key.thumbprint, alg, NOW)


@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "EdDSA"])
def test_pyjwt_alone_verifies_the_clients_proofs(alg: str) -> None:
    key = DPoPKey.generate(alg)
    url = "https://user:secret@API.example.test:8443/a/b?x=1#frag"
    proof = key.proof("DELETE", url, access_token=TOKEN, nonce="n-1")
    header = jwt.get_unverified_header(proof)
    assert header == {"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}
    public = jwt.PyJWK(header["jwk"], algorithm="ES256" if alg == "ES256" else "EdDSA").key
    claims = json.loads(JWS.decode(proof, public, algorithms=[alg]))
    assert claims.pop("htu") == "https://API.example.test:8443/a/b"  # no userinfo, query, fragment
    assert claims.pop("htm") == "DELETE"
    assert claims.pop("ath") == ath_of(TOKEN)
    assert claims.pop("nonce") == "n-1"
    assert isinstance(claims.pop("iat"), int)
    assert len(claims.pop("jti")) >= 16  # RFC 9449 §4.2: 96 bits or more of randomness
    assert claims == {}
    assert key.thumbprint == thumbprint_of(header["jwk"])


def test_each_proof_is_new() -> None:
    key = DPoPKey.generate()
    jtis = {
        jwt.decode(key.proof("GET", URL), options={"verify_signature": False})["jti"]
        for _ in range(50)
    }
    assert len(jtis) == 50


def test_a_key_survives_storage() -> None:
    key = DPoPKey.generate()
    again = DPoPKey.from_pem(key.to_pem())
    assert (again.thumbprint, again.jwk, again.alg) == (key.thumbprint, key.jwk, key.alg)


@pytest.mark.parametrize(
    ("private", "alg"),
    [
        (ec.generate_private_key(ec.SECP384R1()), None),
        (ed448.Ed448PrivateKey.generate(), None),
        (rsa.generate_private_key(65537, 2048), None),
        (ed25519.Ed25519PrivateKey.generate(), "ES256"),
        (ec.generate_private_key(ec.SECP256R1()), "EdDSA"),
    ],
)
def test_only_p256_and_ed25519_keys_sign(private: Any, alg: str | None) -> None:
    with pytest.raises(ValueError, match=r"DPoP|cannot sign"):
        DPoPKey(private, alg)
    with pytest.raises(ValueError, match="Unsupported"):
        DPoPKey.generate("RS256")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.test/p?q#f", "https://a.test/p"),
        ("https://a.test", "https://a.test/"),
        ("https://u:p@a.test:8443/p", "https://a.test:8443/p"),
    ],
)
def test_htu_drops_what_rfc_9449_leaves_out(url: str, expected: str) -> None:
    assert htu(url) == expected


# -- a bare server: proofs verified by hand, not by jwtauth's wiring -----------------------------
# Lenient views: the fake access token is refused by the middleware, which leaves it to them.

SEEN: list[dict[str, Any]] = []


def _answer(
    error: dpop.DPoPError | dpop.ReplayCacheUnavailable, token_endpoint: bool
) -> JsonResponse:
    status = (
        error.token_endpoint_status
        if token_endpoint and isinstance(error, dpop.DPoPError)
        else error.status
    )
    response = JsonResponse({"error": error.code, "detail": str(error.detail)}, status=status)
    for name, value in dpop.challenge(error, token_endpoint=token_endpoint).items():
        response[name] = value
    return response


def _verified(request: HttpRequest, token_endpoint: bool) -> JsonResponse:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    SEEN.append({"dpop": request.headers.get("DPoP"), "authorization": scheme})
    try:
        proof = dpop.verify_proof(
            request.headers.get("DPoP"),
            method=request.method or "",
            url=request.build_absolute_uri(),
            access_token=None if token_endpoint else token,
        )
    except (dpop.DPoPError, dpop.ReplayCacheUnavailable) as e:
        return _answer(e, token_endpoint)
    return JsonResponse({"jkt": proof.jkt, "scheme": scheme})


@lenient
@csrf_exempt
def resource(request: HttpRequest) -> JsonResponse:
    """Answer a DPoP-protected resource request (RFC 9449 §7)."""
    return _verified(request, token_endpoint=False)


@lenient
@csrf_exempt
def token_endpoint(request: HttpRequest) -> JsonResponse:
    """Answer a token request with a proof and no access token (RFC 9449 §5)."""
    return _verified(request, token_endpoint=True)


@lenient
@csrf_exempt
def always_new_nonce(request: HttpRequest) -> JsonResponse:
    """Demand a nonce that is never the one sent, as a misbehaving server would."""
    SEEN.append({"dpop": request.headers.get("DPoP")})
    error = dpop.UseDPoPNonce(f"nonce-{len(SEEN)}")
    return _answer(error, token_endpoint=False)


@lenient
@csrf_exempt
def bad_login(request: HttpRequest) -> JsonResponse:
    """Refuse a login with a 400 that carries a nonce but is no nonce challenge."""
    SEEN.append({"dpop": request.headers.get("DPoP")})
    response = JsonResponse({"error": "invalid_request", "detail": "bad body"}, status=400)
    response["DPoP-Nonce"] = dpop.current_nonce()
    return response


urlpatterns = [
    path("dpop/resource/", resource),
    path("dpop/token/", token_endpoint),
    path("dpop/always-new-nonce/", always_new_nonce),
    path("dpop/bad-login/", bad_login),
]


@pytest.fixture
def server(live_server: Any) -> str:
    """Serve the views above; return the base URL."""
    SEEN.clear()
    return str(live_server.url)


def _proof_header(request_number: int) -> dict[str, Any]:
    return jwt.get_unverified_header(SEEN[request_number]["dpop"])


pytestmark = pytest.mark.urls(__name__)


@pytest.mark.redis
def test_requests_carry_a_fresh_bound_proof_each(server: str) -> None:
    auth = DPoPAuth(access_token=TOKEN)
    with httpx.Client(base_url=server, auth=auth) as client:
        for query in ("", "?page=2", "?page=3#frag"):
            response = client.get(f"/dpop/resource/{query}")
            assert response.status_code == 200, response.text
            assert response.json() == {"jkt": auth.key.thumbprint, "scheme": "DPoP"}
    assert len(SEEN) == 3
    assert len({seen["dpop"] for seen in SEEN}) == 3


@pytest.mark.redis
def test_a_token_request_has_no_ath_or_authorization(server: str) -> None:
    auth = DPoPAuth()
    with httpx.Client(base_url=server, auth=auth) as client:
        response = client.post("/dpop/token/", json={"username": "alice"})
    assert response.status_code == 200, response.text
    assert SEEN[0]["authorization"] == ""
    assert "ath" not in jwt.decode(SEEN[0]["dpop"], options={"verify_signature": False})


@pytest.mark.redis
def test_a_resource_nonce_challenge_is_followed_once(server: str, settings: Any) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    auth = DPoPAuth(access_token=TOKEN)
    with httpx.Client(base_url=server, auth=auth) as client:
        response = client.get("/dpop/resource/")
        assert response.status_code == 200, response.text
        assert len(SEEN) == 2  # the challenge (401) and the retry
        assert client.get("/dpop/resource/").status_code == 200
        assert len(SEEN) == 3  # the nonce is kept: no second challenge
    assert auth.nonces == {server: dpop.current_nonce()}


@pytest.mark.redis
def test_a_token_endpoint_nonce_challenge_is_followed_once(server: str, settings: Any) -> None:
    settings.JWTAUTH_DPOP_NONCE = True
    with httpx.Client(base_url=server, auth=DPoPAuth()) as client:
        response = client.post("/dpop/token/", json={})
    assert response.status_code == 200, response.text
    assert len(SEEN) == 2  # 400 use_dpop_nonce, then the retry


@pytest.mark.redis
def test_an_async_client_follows_the_challenge_too(server: str, settings: Any) -> None:
    settings.JWTAUTH_DPOP_NONCE = True

    async def run() -> list[int]:
        auth = DPoPAuth(access_token=TOKEN)
        async with httpx.AsyncClient(base_url=server, auth=auth) as client:
            first = await client.get("/dpop/resource/")
            second = await client.post("/dpop/token/", json={})
        return [first.status_code, second.status_code]

    assert asyncio.run(run()) == [200, 200]
    assert len(SEEN) == 3  # one challenge, then both requests with the kept nonce


def test_a_server_that_never_settles_gets_one_retry(server: str) -> None:
    with httpx.Client(base_url=server, auth=DPoPAuth()) as client:
        response = client.get("/dpop/always-new-nonce/")
    assert response.status_code == 401
    assert len(SEEN) == 2


def test_a_400_that_is_no_nonce_challenge_is_not_retried(server: str) -> None:
    # Retrying would, at a login, count a failed attempt twice.
    with httpx.Client(base_url=server, auth=DPoPAuth()) as client:
        response = client.post("/dpop/bad-login/", json={})
    assert response.status_code == 400
    assert len(SEEN) == 1


@pytest.mark.redis
def test_the_server_answers_a_replay_with_the_dpop_challenge(server: str) -> None:
    key = DPoPKey.generate()
    proof = key.proof("GET", f"{server}/dpop/resource/", access_token=TOKEN)
    headers = {"DPoP": proof, "Authorization": f"DPoP {TOKEN}"}
    assert httpx.get(f"{server}/dpop/resource/", headers=headers).status_code == 200
    replayed = httpx.get(f"{server}/dpop/resource/", headers=headers)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"
    assert replayed.headers["WWW-Authenticate"] == (
        'DPoP error="invalid_dpop_proof", error_description="The DPoP proof was already used.", '
        'algs="ES256 Ed25519 EdDSA"'
    )


@pytest.mark.redis
def test_the_server_accepts_a_proof_pyjwt_made_alone(server: str) -> None:
    holder = Holder("ES256", ec.generate_private_key(ec.SECP256R1()))
    url = f"{server}/dpop/resource/"
    proof = holder.proof(htu=url, iat=int(time.time()))
    headers = {"DPoP": proof, "Authorization": f"DPoP {TOKEN}"}
    response = httpx.get(url + "?x=1", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["jkt"] == thumbprint_of(holder.jwk)


# -- the optional dependency ---------------------------------------------------------------------


def test_without_httpx_the_helper_says_which_extra_to_install(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "jwtauth.contrib.httpx")
    with pytest.raises(ImportError, match=r"jwtauth\[httpx\]"):
        importlib.import_module("jwtauth.contrib.httpx")


def test_only_the_helper_imports_httpx() -> None:
    from tests.test_packaging import MODULES, ROOT, _imported_tops

    importers = {str(m.relative_to(ROOT)) for m in MODULES if "httpx" in _imported_tops(m)}
    assert importers == {"jwtauth/contrib/httpx.py"}
