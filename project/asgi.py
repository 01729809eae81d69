"""Expose the demo site's ASGI application, after the system checks pass."""

import os

from django.core.asgi import get_asgi_application

from jwtauth.startup import refuse_on_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_asgi_application()
refuse_on_errors()
