from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.users import DEMO_TOTP_SECRETS, demo_totp_code


class Command(BaseCommand):
    help = (
        "Print the second-factor code a demo login's authenticator app shows now (the demo's "
        "known secret), to type after its password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", choices=sorted(DEMO_TOTP_SECRETS))

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo's second-factor codes are for the demo, not production.")
        code, seconds = demo_totp_code(options["username"])
        self.stdout.write(f"{code}  (changes in {seconds} s; accepted for 30 s after that)")
