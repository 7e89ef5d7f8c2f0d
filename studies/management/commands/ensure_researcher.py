"""``manage.py ensure_researcher``: a staff account for the admin, created once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create the researcher (superuser) account if it does not exist. Name and password "
        "come from CWOX_ADMIN_USER / CWOX_ADMIN_PASSWORD; without a password a random one is "
        "made and written to --credentials (mode 0600)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials",
            type=Path,
            default=Path(settings.BASE_DIR) / "demo-output" / "researcher-credentials.txt",
        )

    def handle(self, *args, **options) -> None:
        name = os.environ.get("CWOX_ADMIN_USER", "researcher")
        password = os.environ.get("CWOX_ADMIN_PASSWORD")
        users = get_user_model()
        user = users.objects.filter(username=name).first()
        path: Path = options["credentials"]
        if user is None:
            password = password or secrets.token_urlsafe(12)
            users.objects.create_superuser(username=name, email="", password=password)
            if "CWOX_ADMIN_PASSWORD" not in os.environ:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o600)
                path.write_text(f"user: {name}\npassword: {password}\n")
            self.stdout.write(f"researcher account created: user {name}, password {password}")
        elif password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"researcher account {name}: password set from CWOX_ADMIN_PASSWORD")
        elif path.exists():
            self.stdout.write(f"researcher account {name}: credentials in {path}")
        else:
            self.stdout.write(
                f"researcher account {name} exists (`manage.py changepassword {name}` resets it)"
            )
