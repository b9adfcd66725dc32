from django.conf import settings
from django.core.management.base import BaseCommand

from demo.load import demo_data_load
from demo.users import DEMO_TOTP_SECRETS, DEMO_USERS


class Command(BaseCommand):
    help = "Load the demo logins and data. Safe to run again: it updates what is there."

    def handle(self, *args: object, **options: object) -> None:
        password = settings.DEMO_PASSWORD
        demo_data_load(password=password)
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Logins:"))
        for username, (_, _, role) in DEMO_USERS.items():
            line = f"  {username:<10} password {password!r:<10} {role or 'superuser'}"
            if secret := DEMO_TOTP_SECRETS.get(username):
                line += f"; second factor: TOTP secret {secret}"
            self.stdout.write(line)
        self.stdout.write(
            "After the password, admin and finance are asked for a code: add their secret to an "
            "authenticator app, or print the code of the moment with\n"
            "  .venv/bin/python manage.py demo_totp finance    (or admin)"
        )
