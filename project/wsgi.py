"""Expose the demo site's WSGI application, after the system checks pass."""

import os

from django.core.wsgi import get_wsgi_application

from jwtauth.startup import refuse_on_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()
refuse_on_errors()
