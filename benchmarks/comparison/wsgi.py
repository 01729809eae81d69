"""Serve the comparison site under gunicorn (the HTTP throughput part of the benchmark)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.comparison.settings")
application = get_wsgi_application()
