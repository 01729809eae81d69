"""Route the demo site: the admin, jwtauth's endpoints under auth/, JWKS and the demo API."""

from django.contrib import admin
from django.urls import include, path

from jwtauth import views as jwtauth_views
from project import ninja_api, openapi, pages, views

urlpatterns = [
    path("", pages.index, name="index"),
    path("admin/", admin.site.urls),
    path("auth/", include("jwtauth.urls")),
    path(".well-known/jwks.json", jwtauth_views.jwks, name="jwks"),
    path("api/ping/", views.ping, name="ping"),
    path("api/me/", views.me, name="me"),
    path("api/drf/me/", views.DRFMeView.as_view(), name="drf-me"),
    path("api/ninja/", ninja_api.api.urls),
    path("api/openapi.json", openapi.openapi, name="openapi"),
]
