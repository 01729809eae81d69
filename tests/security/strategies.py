"""Hypothesis strategies for fuzzing tokens and requests, and the run size.

A CI-sized run is the default; ``JWTAUTH_FUZZ_EXAMPLES=<n>`` asks every fuzz target for ``n``
examples (the long run), e.g. ``JWTAUTH_FUZZ_EXAMPLES=2500 pytest tests/test_fuzz_tokens.py
tests/security/test_fuzz_http.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

B64URL = string.ascii_letters + string.digits + "-_"
# Characters a token mutation splices in: its own alphabet, JWS/HTTP punctuation, whitespace,
# padding and a few bytes beyond ASCII (HTTP header values are Latin-1 on the wire).
SPLICE = B64URL + ".=+/ ,;\t\"'\\%\x00\x7f\x80\xe9\xff"


def fuzz_settings(default: int) -> settings:
    """Return the settings of one fuzz target: ``default`` examples unless the env says more."""
    examples = int(os.environ.get("JWTAUTH_FUZZ_EXAMPLES") or default)
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # The fixtures (users, sessions, a frozen clock) are made once per test on purpose;
        # every example starts from the same rows (see the tests).
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)
latin1_text = st.text(alphabet=st.characters(max_codepoint=255), max_size=300)


Mutation = Callable[[st.DrawFn, str, Sequence[str]], str]


def _flip(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    if not s:
        return draw(st.sampled_from(SPLICE))
    i = draw(st.integers(0, len(s) - 1))
    return s[:i] + draw(st.sampled_from(SPLICE)) + s[i + 1 :]


def _delete(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    i = draw(st.integers(0, len(s)))
    return s[:i] + s[i + draw(st.integers(1, 8)) :]


def _insert(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    i = draw(st.integers(0, len(s)))
    return s[:i] + draw(st.text(alphabet=SPLICE, min_size=1, max_size=8)) + s[i:]


def _truncate(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    return s[: draw(st.integers(0, len(s)))]


def _swap_segments(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    parts = s.split(".")
    return ".".join(draw(st.permutations(parts)))


def _splice_other(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    # A segment of another genuine token: same key, same shape, different content.
    if not others:
        return s
    parts, donor = s.split("."), draw(st.sampled_from(others)).split(".")
    i = draw(st.integers(0, min(len(parts), len(donor)) - 1))
    parts[i] = donor[i]
    return ".".join(parts)


def _duplicate(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    return s + draw(st.sampled_from([".", ",", ", ", " ", ""])) + s


def _toggle_case(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    if not s:
        return s
    i = draw(st.integers(0, len(s) - 1))
    return s[:i] + s[i].swapcase() + s[i + 1 :]


def _pad_bits(draw: st.DrawFn, s: str, others: Sequence[str]) -> str:
    # The same bytes spelt differently: set the unused low bits of a segment's last character.
    parts = s.split(".")
    i = draw(st.integers(0, len(parts) - 1))
    if parts[i] and parts[i][-1] in B64URL:
        last = B64URL.index(parts[i][-1]) ^ draw(st.integers(1, 3))
        parts[i] = parts[i][:-1] + B64URL[last]
    return ".".join(parts)


MUTATIONS: list[Mutation] = [
    _flip,
    _delete,
    _insert,
    _truncate,
    _swap_segments,
    _splice_other,
    _duplicate,
    _toggle_case,
    _pad_bits,
]


@st.composite
def mutated(draw: st.DrawFn, token: str, others: Sequence[str] = ()) -> str:
    """Draw one to three mutations of ``token`` (which may, rarely, leave it unchanged)."""
    for _ in range(draw(st.integers(1, 3))):
        token = draw(st.sampled_from(MUTATIONS))(draw, token, others)
    return token


def credential(genuine: Sequence[str]) -> st.SearchStrategy[str]:
    """Draw a token-like string: genuine, mutated, or arbitrary."""
    pick = st.sampled_from(list(genuine))
    return st.one_of(
        pick,
        pick.flatmap(lambda t: mutated(t, genuine)),
        st.text(alphabet=SPLICE, max_size=200),
        latin1_text,
    )


def authorization(genuine: Sequence[str]) -> st.SearchStrategy[str | None]:
    """Draw an ``Authorization`` header value (or none)."""
    token = credential(genuine)
    scheme = st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer  ", "Basic ", "Token ", ""])
    return st.one_of(
        st.none(),
        st.tuples(scheme, token, st.sampled_from(["", " ", "\t", ","])).map(lambda p: "".join(p)),
        latin1_text,
    )


def cookie_header(genuine: Sequence[str]) -> st.SearchStrategy[str | None]:
    """Draw a ``Cookie`` header: token cookies (genuine, mutated, junk) and noise."""
    name = st.sampled_from(["auth_token", "refresh_token", "csrftoken", "sessionid", "x"])
    pair = st.tuples(name, credential(genuine)).map(lambda p: f"{p[0]}={p[1]}")
    return st.one_of(
        st.none(),
        st.lists(pair, min_size=1, max_size=3).map("; ".join),
        latin1_text,
    )
