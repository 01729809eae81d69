"""Read request bodies (JSON or form-encoded) with a size limit and typed fields."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext_lazy as _

from .conf import conf
from .exceptions import InvalidRequest, PayloadTooLarge

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
TRUE_VALUES = frozenset({"true", "1", "on", "yes"})


def body(request: HttpRequest) -> bytes:
    """Return the request body, refusing one larger than ``JWTAUTH_MAX_BODY_SIZE``.

    The body is read once and kept by Django, so a form parsed afterwards (by the CSRF
    check, say) and a later :func:`read` both work from it.
    """
    limit = conf.MAX_BODY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as e:
        raise InvalidRequest(_("The Content-Length header is not a number.")) from e
    if declared > limit:
        raise PayloadTooLarge()
    try:
        data = request.body
    except RequestDataTooBig as e:
        raise PayloadTooLarge() from e
    if len(data) > limit:
        raise PayloadTooLarge()
    return data


def read(request: HttpRequest) -> dict[str, Any]:
    """Return the body's fields as a dict; an empty body is an empty dict."""
    raw = body(request)
    if not raw:
        return {}
    content_type = request.content_type or ""
    if content_type in FORM_TYPES:
        try:
            return request.POST.dict()
        except (SuspiciousOperation, MultiPartParserError, ValueError) as e:
            raise InvalidRequest(_("The form body is malformed.")) from e
    if content_type == "application/json" or content_type.endswith("+json") or not content_type:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise InvalidRequest(_("The body is not valid UTF-8 JSON.")) from e
        if not isinstance(data, dict):
            raise InvalidRequest(_("The JSON body must be an object."))
        return data
    raise InvalidRequest(_("Send the body as JSON or as a form."))


def string(data: dict[str, Any], name: str, max_length: int = 4096) -> str:
    """Return the required string field ``name``, or raise :class:`InvalidRequest`."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            _("The field '%(name)s' is required and must be a string.") % {"name": name}
        )
    if len(value) > max_length or "\x00" in value or not _encodable(value):
        raise InvalidRequest(_("The field '%(name)s' is not acceptable.") % {"name": name})
    return value


def _encodable(value: str) -> bool:
    # JSON can carry lone surrogates ("\ud800"), which no UTF-8 consumer (the database, a
    # password hasher) accepts; refuse them here rather than fail deeper with a 500.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def optional_string(data: dict[str, Any], name: str, max_length: int = 4096) -> str | None:
    """Return the string field ``name`` when present, ``None`` when absent."""
    if data.get(name) in (None, ""):
        return None
    return string(data, name, max_length)


def flag(data: dict[str, Any], name: str) -> bool:
    """Return the boolean field ``name`` (JSON true or a form's "true"/"1"/"on")."""
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value is True
    if isinstance(value, str):
        return value.lower() in TRUE_VALUES
    # A number or an object is a client bug; silently reading it as "no" would hide it.
    raise InvalidRequest(_("The field '%(name)s' must be a boolean.") % {"name": name})
