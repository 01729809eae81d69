"""Register the demo site's user admin with jwtauth's additions, explicitly.

The admin Django ships for the user model is replaced by a subclass mixing in
``jwtauth.admin.UserTokensAdminMixin``: each user's change page links to their sessions and
offers "Revoke all tokens", and the user list has the bulk action.
"""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model

from jwtauth.admin import UserTokensAdminMixin

User = get_user_model()


class UserAdmin(UserTokensAdminMixin, auth_admin.UserAdmin):  # type: ignore[type-arg]
    """Django's user admin, with the user's sessions and "Revoke all tokens"."""


# Importing django.contrib.auth.admin above registered Django's own; this app is listed before
# django.contrib.auth (for its runserver), so the replacement is made here, after that import.
admin.site.unregister(User)
admin.site.register(User, UserAdmin)
