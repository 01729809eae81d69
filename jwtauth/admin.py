"""Give administrators the revocation tools: revoked tokens, sessions, cutoffs and a user action.

Every revocation and un-revocation made here goes through :mod:`jwtauth.revocation`, which
writes the database and then the shared cache, so an admin's click takes effect on the very
next request in every process. Rows are never edited in place: a revoked token is added by
revoking it and removed by un-revoking it; sessions and cutoffs are only ever revoked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.signals import request_started
from django.core.validators import RegexValidator
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import revocation
from .conf import conf
from .exceptions import TokenError, TokenExpired
from .models import RevokedToken, TokenSession, UserCutoff
from .tokens import ACCESS, REFRESH, Token, decode, now

if TYPE_CHECKING:
    RevokedTokenAdminBase = admin.ModelAdmin[RevokedToken]
    TokenSessionAdminBase = admin.ModelAdmin[TokenSession]
    UserCutoffAdminBase = admin.ModelAdmin[UserCutoff]
    RevokeFormBase = forms.ModelForm[RevokedToken]
else:
    RevokedTokenAdminBase = TokenSessionAdminBase = UserCutoffAdminBase = admin.ModelAdmin
    RevokeFormBase = forms.ModelForm

ADMIN_REASON = "revoked by an administrator"
SHORT_JTI = 10


def _username_lookup(prefix: str = "user__") -> str:
    return prefix + get_user_model().USERNAME_FIELD


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value back, so a pasted token is not echoed."""

    def format_value(self, value: Any) -> str | None:
        """Render empty whatever was submitted."""
        return None


class RevokeTokenForm(RevokeFormBase):
    """Revoke one token, from the token itself (verified) or from its bare ``jti``."""

    token = forms.CharField(
        label=_("token"),
        required=False,
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "Paste an access or refresh token of this site. Its signature is verified; its id, "
            "type, user and expiry are read from it. It is not stored or shown again."
        ),
    )

    class Meta:
        model = RevokedToken
        fields = ("token", "jti", "token_type", "reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        jti = self.fields["jti"]
        jti.required = False
        jti.validators.append(
            RegexValidator(
                r"\A[A-Za-z0-9_-]+\Z",
                _(
                    "A token id is letters, digits, '-' and '_' only; copy the whole jti, "
                    "not the shortened one shown in lists."
                ),
            )
        )
        jti.help_text = _(
            "Or the token's id (its jti claim) when you do not have the token itself."
        )
        self.fields["token_type"].required = False
        self.fields["token_type"].help_text = _("Required with a bare token id.")

    def clean_token(self) -> str:
        """Accept a token pasted with its ``Bearer`` prefix or wrapped over several lines."""
        raw = "".join(str(self.cleaned_data.get("token") or "").split())
        if raw[:6].lower() == "bearer":
            raw = raw[6:]
        return raw

    def clean(self) -> dict[str, Any]:
        """Fill jti, type, user and expiry from the token or the bare id; refuse bad tokens."""
        data = super().clean() or {}
        raw, jti = data.get("token") or "", data.get("jti") or ""
        if "jti" in self.errors:
            return data
        if raw and jti:
            raise ValidationError(_("Give either a token or a token id, not both."))
        if raw:
            token = verified(raw)
            user = _user_of(token)
            data["jti"], data["token_type"] = token.jti, token.type
            self.instance.user = user
            self.instance.expires_at = datetime.fromtimestamp(token.exp, UTC)
        elif jti:
            if not data.get("token_type"):
                self.add_error("token_type", _("Choose the type of the token this id belongs to."))
                return data
            # A bare id carries no expiry: keep the revocation as long as any token can live.
            longest = max(conf.refresh_lifetime, conf.access_lifetime)
            self.instance.expires_at = now() + timedelta(seconds=longest)
        else:
            raise ValidationError(_("Paste a token, or give a token id and its type."))
        if RevokedToken.objects.filter(jti=data["jti"]).exists():
            raise ValidationError(_("This token is already revoked."))
        return data

    def validate_unique(self) -> None:
        """Skip the model's jti check: :meth:`clean` already says "already revoked"."""


def verified(raw: str) -> Token:
    """Return ``raw`` verified as an access or a refresh token; raise a form error otherwise."""
    errors: dict[str, TokenError] = {}
    for token_type in (ACCESS, REFRESH):
        try:
            return decode(raw, token_type)
        except TokenExpired as e:
            # Verified, but dead already: every check refuses it (RFC 7519 §4.1.4), so a
            # revocation would protect nothing. Its claims stay untrusted and unread.
            raise ValidationError(
                _(
                    "This token has expired: it is already refused everywhere, so there is "
                    "nothing to revoke. To end the login it came from, revoke its session."
                ),
                code="expired",
            ) from e
        except TokenError as e:
            errors[token_type] = e
    # Show why the token failed as the type its header claims, not the other type's mismatch.
    wrong_type = {t for t, e in errors.items() if str(e) == f"The token is not an {t} token."}
    reason = next((e for t, e in errors.items() if t not in wrong_type), errors[ACCESS])
    raise ValidationError(
        _("This is not a valid token of this site: %(reason)s"),
        code="invalid",
        params={"reason": reason.detail},
    )


def _user_of(token: Token) -> Any | None:
    try:
        return revocation.load_user(token.sub)
    except TokenError:
        return None


class ExpiryFilter(admin.SimpleListFilter):
    """Split revoked tokens into those still blocking a live token and those past expiry."""

    title = _("expiry")
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        """Offer "still live" and "expired"."""
        return [("live", _("still live")), ("expired", _("expired"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filter on ``expires_at`` against the current time."""
        if self.value() == "live":
            return queryset.filter(expires_at__gt=now())
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now())
        return queryset


@admin.register(RevokedToken)
class RevokedTokenAdmin(RevokedTokenAdminBase):
    """List revoked tokens; add revokes, delete un-revokes, and nothing is edited in place."""

    list_display = (
        "short_jti",
        "user",
        "token_type",
        "reason",
        "revoked_by",
        "revoked_at",
        "expires_at",
    )
    list_filter = ("token_type", ExpiryFilter)
    list_select_related = ("user", "revoked_by")
    search_fields = ("^jti", _username_lookup())
    search_help_text = _("Search by the start of a token id (jti) or by username.")
    ordering = ("-revoked_at",)
    fields = ("jti", "token_type", "user", "reason", "revoked_by", "revoked_at", "expires_at")
    add_fieldsets = (
        (
            _("The token"),
            {
                "fields": ("token",),
                "description": _(
                    "A revoked token is refused from the very next request, in every process."
                ),
            },
        ),
        (_("…or only its id"), {"fields": ("jti", "token_type")}),
        (None, {"fields": ("reason",)}),
    )
    actions = ("delete_selected",)
    delete_confirmation_template = "admin/jwtauth/revokedtoken/delete_confirmation.html"
    delete_selected_confirmation_template = (
        "admin/jwtauth/revokedtoken/unrevoke_selected_confirmation.html"
    )

    @admin.display(description=_("token id (jti)"), ordering="jti")
    def short_jti(self, obj: RevokedToken) -> str:
        """Show the start of the jti; the whole id is in the tooltip."""
        return format_html('<code title="{}">{}…</code>', obj.jti, obj.jti[:SHORT_JTI])

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse edits: a revocation is added or removed, never changed."""
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """Use the revoke form's fieldsets on the add page."""
        if obj is None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """Use :class:`RevokeTokenForm` on the add page."""
        if obj is None:
            kwargs["form"] = RevokeTokenForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Revoke through :mod:`jwtauth.revocation`, which writes the database then the cache."""
        if change:
            raise PermissionDenied
        revocation.revoke_token(
            jti=obj.jti,
            token_type=obj.token_type,
            expires_at=obj.expires_at,
            user_id=obj.user_id,
            reason=obj.reason or ADMIN_REASON,
            revoked_by=request.user,
        )
        saved = RevokedToken.objects.get(jti=obj.jti)
        obj.pk, obj.revoked_at, obj.reason = saved.pk, saved.revoked_at, saved.reason
        obj.revoked_by_id = saved.revoked_by_id
        obj._state.adding, obj._state.db = False, saved._state.db

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Un-revoke through :mod:`jwtauth.revocation`, which clears the cache too."""
        revocation.unrevoke_token(obj.jti)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Un-revoke each selected token, clearing its cache entry."""
        for jti in queryset.values_list("jti", flat=True):
            revocation.unrevoke_token(jti)

    @admin.action(
        description=_("Un-revoke selected tokens (accepted again)"), permissions=["delete"]
    )
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        """Un-revoke the selected tokens after a confirmation page (Django's bulk delete)."""
        # Named like the site-wide action it replaces, so the list offers only this wording.
        return admin_actions.delete_selected(self, request, queryset)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Title the confirmation page "Un-revoke"."""
        context = {"title": _("Un-revoke this token?"), **(extra_context or {})}
        return super().delete_view(request, object_id, context)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        """Say what un-revoking did and return to the list (rows are never "changed")."""
        self.message_user(
            request,
            _("Un-revoked “%(obj)s”: it is accepted again until it expires.")
            % {"obj": obj_display},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:jwtauth_revokedtoken_changelist", current_app=self.admin_site.name)
        )


class SessionStateFilter(admin.SimpleListFilter):
    """Split sessions into live, revoked and expired ones."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        """Offer the three states."""
        return [("live", _("live")), ("revoked", _("revoked")), ("expired", _("expired"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filter on the state annotated by :meth:`TokenSessionAdmin.get_queryset`."""
        value = self.value()
        if value in {"live", "revoked", "expired"}:
            return queryset.filter(state=value)
        return queryset


def _session_state() -> Case:
    # Mirrors revocation._is_dead: a session is dead when revoked itself or when it started
    # before its user's cutoff (logout everywhere, password change, an admin's "revoke all").
    return Case(
        When(
            Q(revoked_at__isnull=False) | Q(user_cutoff__gt=F("created_at")),
            then=Value("revoked"),
        ),
        When(expires_at__lte=now(), then=Value("expired")),
        default=Value("live"),
    )


class ViewOnly:
    """Refuse add, change and delete: these rows change only through jwtauth.revocation.

    A session starts at login and ends by being revoked; a cutoff moves forward only (moving
    it back would bring dead tokens back to life); the purge command removes expired rows.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse adding rows by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse editing rows."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse deleting rows."""
        return False


@admin.register(TokenSession)
class TokenSessionAdmin(ViewOnly, TokenSessionAdminBase):
    """List login sessions (devices) and revoke them; nothing is edited in place."""

    list_display = (
        "user",
        "device",
        "ip_address",
        "created_at",
        "last_used",
        "expires_at",
        "state_display",
    )
    list_filter = (SessionStateFilter, "created_at", "expires_at")
    list_select_related = ("user",)
    search_fields = (_username_lookup(), "^sid")
    search_help_text = _("Search by username or by the start of a session id.")
    ordering = ("-created_at",)
    actions = ("revoke_selected_sessions",)
    fields = (
        "sid",
        "user",
        "state_display",
        "user_agent",
        "ip_address",
        "created_at",
        "refreshed_at",
        "expires_at",
        "revoked_at",
        "revoke_reason",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Annotate each session with its user's cutoff, its state and when it was last used."""
        cutoff = UserCutoff.objects.filter(user_id=OuterRef("user_id")).values("cutoff")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                user_cutoff=Subquery(cutoff),
                last_used=Coalesce("refreshed_at", "created_at"),
            )
            .annotate(state=_session_state())
        )

    @admin.display(description=_("device"), ordering="user_agent")
    def device(self, obj: TokenSession) -> str:
        """Show the start of the user agent seen at login; the whole of it in the tooltip."""
        agent = obj.user_agent or "—"
        short = agent if len(agent) <= 60 else agent[:59] + "…"
        return format_html('<span title="{}">{}</span>', agent, short)

    @admin.display(description=_("last used"), ordering="last_used")
    def last_used(self, obj: Any) -> Any:
        """Show when the session last logged in or refreshed."""
        return obj.last_used_at

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, obj: Any) -> str:
        """Show live, revoked or expired."""
        return str(obj.state)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Allow revoking to whoever holds the model's change permission."""
        return admin.ModelAdmin.has_change_permission(self, request)

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke_selected_sessions(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Revoke the selected sessions, with every token they hold."""
        sids = list(queryset.values_list("sid", flat=True))
        revoked = revocation.revoke_sessions(sids, reason=ADMIN_REASON, revoked_by=request.user)
        self.message_user(
            request,
            ngettext(
                "Revoked %(count)d session: its tokens are refused from the next request.",
                "Revoked %(count)d sessions: their tokens are refused from the next request.",
                revoked,
            )
            % {"count": revoked},
            messages.SUCCESS,
        )
        if revoked < len(sids):
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected session was revoked already.",
                    "%(count)d selected sessions were revoked already.",
                    len(sids) - revoked,
                )
                % {"count": len(sids) - revoked},
                messages.INFO,
            )


@admin.register(UserCutoff)
class UserCutoffAdmin(ViewOnly, UserCutoffAdminBase):
    """List each user's "every token issued before this instant is dead" cutoff, read-only."""

    list_display = ("user", "cutoff", "reason")
    list_select_related = ("user",)
    search_fields = (_username_lookup(),)
    ordering = ("-cutoff",)


@admin.action(description=_("Revoke all tokens of selected users"), permissions=["change"])
def revoke_all_tokens(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """Revoke every token the selected users hold (they must log in again)."""
    user_ids = list(queryset.values_list("pk", flat=True))
    for user_id in user_ids:
        revocation.revoke_user(user_id, reason=ADMIN_REASON, revoked_by=request.user)
    modeladmin.message_user(
        request,
        ngettext(
            "Revoked every token of %(count)d user: they must log in again.",
            "Revoked every token of %(count)d users: they must log in again.",
            len(user_ids),
        )
        % {"count": len(user_ids)},
        messages.SUCCESS,
    )


def add_user_action(site: admin.AdminSite | None = None) -> bool:
    """Add "Revoke all tokens" to the user admin registered on ``site``; tell if it is there.

    The project's own ``UserAdmin`` is kept: the action is appended to that instance's
    actions. A user admin that disabled actions (``actions = None``) is left alone.
    """
    site = admin.site if site is None else site
    model = get_user_model()
    if not site.is_registered(model):
        return False
    model_admin = site.get_model_admin(model)
    if model_admin.actions is None:
        return False
    actions = list(model_admin.actions)
    if revoke_all_tokens not in actions:
        model_admin.actions = [*actions, revoke_all_tokens]
    return True


def _add_user_action_once(**kwargs: Any) -> None:
    # By the first request every app's admin module has been imported, whatever the order of
    # INSTALLED_APPS, so a UserAdmin registered after this module still gets the action.
    request_started.disconnect(dispatch_uid=__name__)
    add_user_action()


def add_user_action_on_first_request() -> None:
    """Add the user action now and again when the first request starts (then stop listening)."""
    add_user_action()
    request_started.connect(_add_user_action_once, dispatch_uid=__name__, weak=False)


add_user_action_on_first_request()
