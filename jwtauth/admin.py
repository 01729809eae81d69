"""Give administrators the revocation tools: revoked tokens, sessions, cutoffs and a user action.

Every revocation and un-revocation made here goes through :mod:`jwtauth.revocation`, which
writes the database and then the shared cache, so an admin's click takes effect on the very
next request in every process. Rows are never edited in place: a revoked token is added by
revoking it and removed by un-revoking it; sessions and cutoffs are only ever revoked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from . import revocation, sessions
from .clock import now
from .conf import conf
from .exceptions import RevocationUnavailable, TokenError, TokenExpired, TokenTypeMismatch
from .models import EXPIRED, LIFETIME, LIVE, REVOKED, RevokedToken, TokenSession, UserCutoff
from .tokens import ACCESS, REFRESH, Token, decode

if TYPE_CHECKING:
    RevokedTokenAdminBase = admin.ModelAdmin[RevokedToken]
    TokenSessionAdminBase = admin.ModelAdmin[TokenSession]
    UserCutoffAdminBase = admin.ModelAdmin[UserCutoff]
    RevokeFormBase = forms.ModelForm[RevokedToken]
else:
    RevokedTokenAdminBase = TokenSessionAdminBase = UserCutoffAdminBase = admin.ModelAdmin
    RevokeFormBase = forms.ModelForm

ADMIN_REASON = "revoked by an administrator"
# A session's state is a stable code (the sessions API's too); administrators read its label,
# in a context of its own: translations agree with "session", not with "token".
STATE_LABELS = {
    LIVE: pgettext_lazy("session state", "live"),
    REVOKED: pgettext_lazy("session state", "revoked"),
    EXPIRED: pgettext_lazy("session state", "expired"),
}
SHORT_JTI = 10
SHORT_AGENT = 40


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
    wrong_type: set[str] = set()
    for token_type in (ACCESS, REFRESH):
        try:
            return decode(raw, token_type)
        except TokenTypeMismatch as e:
            errors[token_type] = e
            wrong_type.add(token_type)
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
        # The admin goes on to log and link the row by its key: read back what was written.
        obj.pk = RevokedToken.objects.values_list("pk", flat=True).get(jti=obj.jti)
        obj.refresh_from_db()

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
        return list(STATE_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filter on the state annotated by ``TokenSession.objects.with_state``."""
        value = self.value()
        if value in {LIVE, REVOKED, EXPIRED}:
            return queryset.filter(state=value)
        return queryset


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


def confirm(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet[Any],
    describe: Callable[[Any], str] = str,
    **context: Any,
) -> TemplateResponse:
    """Answer a changelist action with a confirmation page, as Django's bulk delete does.

    The page lists the rows (each as ``describe`` puts it) and posts the same action back with
    ``post=yes``; ``context`` names the ``action`` and gives the page its ``title``,
    ``question`` and ``confirm`` (the button's label).
    """
    return TemplateResponse(
        request,
        "admin/jwtauth/action_confirmation.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "queryset": queryset,
            "items": [describe(obj) for obj in queryset],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **context,
        },
    )


def confirmed(request: HttpRequest) -> bool:
    """Tell whether the action's confirmation page was answered "yes"."""
    return request.POST.get("post") == "yes"


@admin.register(TokenSession)
class TokenSessionAdmin(ViewOnly, TokenSessionAdminBase):
    """List login sessions (devices) and revoke them; nothing is edited in place."""

    # The state comes second and every column fits 1366 pixels beside the filters; the login
    # time is on each session's page (and in the filters).
    list_display = ("user", "state_display", "why", "device", "ip_address", "last_used")
    list_filter = (SessionStateFilter, "created_at")
    list_select_related = ("user",)
    search_fields = (_username_lookup(), "^sid", "label")
    search_help_text = _("Search by username, session label or the start of a session id.")
    ordering = ("-created_at",)
    actions = ("revoke_selected_sessions",)
    fields = (
        "sid",
        "user",
        "state_display",
        "why",
        "label",
        "user_agent",
        "ip_address",
        "created_at",
        "refreshed_at",
        "expires_at",
        "revoked_at",
        "revoke_reason",
    )

    class Media:
        css = {"all": ["jwtauth/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Annotate each session with its state, by the rule the sessions API uses too."""
        return TokenSession.objects.with_state().select_related("user")

    @admin.display(description=_("device"), ordering="user_agent")
    def device(self, obj: TokenSession) -> str:
        """Show the user's label and the start of the user agent; the whole in the tooltip."""
        agent = obj.user_agent or "—"
        short = agent if len(agent) <= SHORT_AGENT else agent[: SHORT_AGENT - 1] + "…"
        if obj.label:
            return format_html(
                '<strong>{}</strong><br><span title="{}">{}</span>', obj.label, agent, short
            )
        return format_html('<span title="{}">{}</span>', agent, short)

    @admin.display(description=_("last used"), ordering="last_used")
    def last_used(self, obj: Any) -> str:
        """Show when the session last logged in or refreshed."""
        return _short(obj.last_used_at)

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, obj: Any) -> str:
        """Show live, revoked or expired, in the administrator's language."""
        return str(STATE_LABELS[obj.state])

    @admin.display(description=_("ends or ended"))
    def why(self, obj: Any) -> str:
        """Say when and why the session ended, or when and how a live one will end."""
        if obj.revoked_at is not None:
            return _when(obj.revoke_reason or STATE_LABELS[REVOKED], obj.revoked_at)
        if obj.state == REVOKED:
            reason = _("all of the user's tokens revoked: %(reason)s") % {
                "reason": obj.cutoff_reason or _("no reason given")
            }
            return _when(reason, obj.user_cutoff)
        end, cause = obj.ends
        if obj.state == EXPIRED:
            text = _("maximum lifetime reached") if cause == LIFETIME else _("unused too long")
            return _when(text, end)
        if cause == LIFETIME:
            return _when(_("ends (maximum lifetime)"), end)
        return _when(_("ends unless used"), end)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Allow revoking to whoever holds the model's change permission."""
        return admin.ModelAdmin.has_change_permission(self, request)

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke_selected_sessions(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> TemplateResponse | None:
        """Ask for confirmation, then revoke the selected sessions with every token they hold."""
        if not confirmed(request):
            return confirm(
                self,
                request,
                queryset,
                describe=_describe_session,
                action="revoke_selected_sessions",
                title=_("Revoke the selected sessions?"),
                question=_(
                    "Every token of these sessions is refused from the very next request, in "
                    "every process; their devices must log in again."
                ),
                confirm=_("Yes, revoke them"),
            )
        sids = list(queryset.values_list("sid", flat=True))
        try:
            revoked = revocation.revoke_sessions(sids, reason=ADMIN_REASON, revoked_by=request.user)
        except RevocationUnavailable as e:
            self.message_user(request, str(e.detail), messages.ERROR)
            return None
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
        return None


def _describe_session(session: Any) -> str:
    device = session.label or session.user_agent or "—"
    state = STATE_LABELS[session.state]
    return f"{session.user} · {device[:SHORT_AGENT]} · {state} · {session.sid[:8]}…"


def _short(moment: datetime) -> str:
    return date_format(localtime(moment), "SHORT_DATETIME_FORMAT")


def _when(text: Any, moment: datetime | None) -> str:
    if moment is None:
        return str(text)
    return format_html("{}<br><small>{}</small>", text, _short(moment))


@admin.register(UserCutoff)
class UserCutoffAdmin(ViewOnly, UserCutoffAdminBase):
    """List each user's "every token issued before this instant is dead" cutoff, read-only."""

    list_display = ("user", "cutoff", "reason")
    list_select_related = ("user",)
    search_fields = (_username_lookup(),)
    ordering = ("-cutoff",)


def _revoke_users(modeladmin: Any, request: HttpRequest, user_ids: list[Any]) -> int:
    """Revoke every token of each user; say which could not be; return how many were."""
    refused: RevocationUnavailable | None = None
    done = 0
    for user_id in user_ids:
        try:
            revocation.revoke_user(user_id, reason=ADMIN_REASON, revoked_by=request.user)
        except RevocationUnavailable as e:
            refused = e
            continue
        done += 1
    if refused is not None:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d user's tokens could not be revoked: %(reason)s",
                "%(count)d users' tokens could not be revoked: %(reason)s",
                len(user_ids) - done,
            )
            % {"count": len(user_ids) - done, "reason": refused.detail},
            messages.ERROR,
        )
    return done


@admin.action(description=_("Revoke all tokens of selected users"), permissions=["change"])
def revoke_all_tokens(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]
) -> TemplateResponse | None:
    """Ask for confirmation, then revoke every token the selected users hold."""
    if not confirmed(request):
        return confirm(
            modeladmin,
            request,
            queryset,
            action="revoke_all_tokens",
            title=_("Revoke every token of the selected users?"),
            question=_(
                "Every session of these users ends from the very next request, in every "
                "process: they must log in again on each of their devices."
            ),
            confirm=_("Yes, revoke them all"),
        )
    user_ids = list(queryset.values_list("pk", flat=True))
    done = _revoke_users(modeladmin, request, user_ids)
    if not done:
        return None
    modeladmin.message_user(
        request,
        ngettext(
            "Revoked every token of %(count)d user: they must log in again.",
            "Revoked every token of %(count)d users: they must log in again.",
            done,
        )
        % {"count": done},
        messages.SUCCESS,
    )
    return None


class UserTokensAdminMixin:
    """Add jwtauth to a user admin: the user's sessions and "Revoke all tokens".

    Mix it in before the user admin class it extends (``class UserAdmin(UserTokensAdminMixin,
    auth_admin.UserAdmin)``). The change page links to the user's sessions and offers
    "Revoke all tokens" behind a confirmation page; the changelist gets the bulk action
    :func:`revoke_all_tokens` (list it yourself if your admin sets ``actions``).
    """

    actions: Any = [revoke_all_tokens]
    change_form_template = "admin/jwtauth/user_change_form.html"

    def get_urls(self) -> list[URLPattern]:
        """Add the "Revoke all tokens" page of one user before the admin's own URLs."""
        opts = self.opts  # type: ignore[attr-defined]
        view = self.admin_site.admin_view(self.revoke_tokens_view)  # type: ignore[attr-defined]
        name = f"{opts.app_label}_{opts.model_name}_revoke_tokens"
        return [
            path("<path:object_id>/revoke-tokens/", view, name=name),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        """Give the change page its sessions link and the template it would have used."""
        opts = self.opts  # type: ignore[attr-defined]
        context["jwtauth_base_template"] = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        )
        if obj is not None and obj.pk is not None:
            context.update(self._tokens_context(request, obj))
        return super().render_change_form(  # type: ignore[misc]
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    def _tokens_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        site = self.admin_site.name  # type: ignore[attr-defined]
        opts = self.opts  # type: ignore[attr-defined]
        context: dict[str, Any] = {"jwtauth_live_sessions": sessions.for_user(obj).count()}
        if self.admin_site.is_registered(TokenSession):  # type: ignore[attr-defined]
            changelist = reverse("admin:jwtauth_tokensession_changelist", current_app=site)
            context["jwtauth_sessions_url"] = f"{changelist}?user__id__exact={obj.pk}"
        if self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            context["jwtauth_revoke_url"] = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_revoke_tokens",
                args=[obj.pk],
                current_app=site,
            )
        return context

    def revoke_tokens_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, then revoke every token of one user, and return to their change page."""
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            raise PermissionDenied
        opts = self.opts  # type: ignore[attr-defined]
        site = self.admin_site.name  # type: ignore[attr-defined]
        change_url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk], current_app=site
        )
        if request.method == "POST" and confirmed(request):
            if _revoke_users(self, request, [obj.pk]):
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    _("Revoked every token of “%(user)s”: they must log in again.") % {"user": obj},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(change_url)
        return TemplateResponse(
            request,
            "admin/jwtauth/revoke_tokens_confirmation.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "opts": opts,
                "object": obj,
                "change_url": change_url,
                "live_sessions": sessions.for_user(obj).count(),
                "title": _("Revoke every token of “%(user)s”?") % {"user": obj},
            },
        )
