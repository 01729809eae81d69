"""Create the demo site's superuser from ``DJANGO_SUPERUSER_*`` (environment or ``.env``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError


class Command(BaseCommand):
    """Create the superuser ``make run`` offers to log in as, unless it exists already.

    Django's ``createsuperuser --noinput`` fails when the user exists, and wants an e-mail
    address the README's one-liner does not give; ``make run`` used to hide either failure
    behind a guess. This command says what it did, and fails only with the real reason.
    """

    help = (
        "Create the superuser named by DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD "
        "(and DJANGO_SUPERUSER_EMAIL, optional), from the environment or .env, unless it exists."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create the superuser, or say why none was created."""
        wanted = settings.DEMO_SUPERUSER
        username, password = wanted["username"], wanted["password"]
        if not (username and password):
            if username or password:
                raise CommandError(
                    "Superuser not created: set both DJANGO_SUPERUSER_USERNAME and "
                    "DJANGO_SUPERUSER_PASSWORD (only one is set)."
                )
            self.stdout.write(
                "No superuser to create: set DJANGO_SUPERUSER_USERNAME and "
                "DJANGO_SUPERUSER_PASSWORD (in the environment or .env) to get one to log in as."
            )
            return
        try:
            self._create(username, password, wanted["email"])
        except ValidationError as e:
            raise CommandError(f"Superuser {username!r} not created: {' '.join(e.messages)}") from e
        except DatabaseError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            raise CommandError(f"Superuser {username!r} not created: {reason}") from e

    def _create(self, username: str, password: str, email: str) -> None:
        user_model = get_user_model()
        manager = user_model._default_manager
        existing = manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        if existing is not None:
            same = existing.check_password(password)
            self.stdout.write(
                f"Superuser {username!r} exists already"
                + ("." if same else "; its password is not DJANGO_SUPERUSER_PASSWORD and was kept.")
            )
            return
        username = user_model._meta.get_field(user_model.USERNAME_FIELD).clean(username, None)
        email = user_model._meta.get_field("email").clean(email, None) if email else ""
        manager.create_superuser(username, email, password)
        self.stdout.write(f"Superuser {username!r} created.")
