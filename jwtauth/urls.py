"""Route the auth endpoints; include with ``path("auth/", include("jwtauth.urls"))``."""

from django.urls import path

from . import views

app_name = "jwtauth"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("refresh/", views.refresh, name="refresh"),
    path("logout/", views.logout, name="logout"),
    path("logout-all/", views.logout_all, name="logout-all"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/<str:sid>/", views.session_detail, name="session"),
    path("sessions/<str:sid>/revoke/", views.session_revoke, name="session-revoke"),
    path("csrf/", views.csrf, name="csrf"),
    path("jwks.json", views.jwks, name="jwks"),
]
