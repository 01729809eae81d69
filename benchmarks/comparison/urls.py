"""Route every contender; the runner knows them by these paths."""

from django.urls import include, path
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)

from . import views

urlpatterns = [
    path("bare/", views.bare),
    path("floor/", views.floor),
    path("jwtauth/auth-only/", views.jwtauth_auth_only),
    path("jwtauth/user/", views.jwtauth_user),
    path("drf/baseline/", views.BaselineView.as_view()),
    path("drf/user-query/", views.UserQueryView.as_view()),
    path("drf/jwtauth/", views.JWTAuthView.as_view()),
    path("drf/simplejwt/", views.SimpleJWTView.as_view()),
    path("auth/", include("jwtauth.urls")),
    path("simplejwt/login/", TokenObtainPairView.as_view()),
    path("simplejwt/refresh/", TokenRefreshView.as_view()),
    path("simplejwt/logout/", TokenBlacklistView.as_view()),
]
