"""A project's plain ``wsgi.py``, as ``startproject`` writes it: no system checks at start-up.

gunicorn and uvicorn load this and serve; ``manage.py check`` never runs.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.setups.misordered_settings")

application = get_wsgi_application()
