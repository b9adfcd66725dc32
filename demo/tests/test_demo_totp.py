"""The demo logins that must give a second factor can: their known secrets, printed by
`demo_data`, and `demo_totp`, which prints the code of the moment."""

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from demo.users import DEMO_TOTP_SECRETS, demo_totp_code

pytestmark = pytest.mark.django_db


def test_demo_data_gives_admin_and_finance_their_known_authenticator(capsys):
    call_command("demo_data")
    out = capsys.readouterr().out

    for username, secret in DEMO_TOTP_SECRETS.items():
        assert f"TOTP secret {secret}" in out
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        assert device.verify_token(demo_totp_code(username)[0])
    assert "manage.py demo_totp finance" in out
    assert not TOTPDevice.objects.filter(user__username__startswith="manager").exists()


def test_demo_data_puts_the_demo_authenticator_back(capsys):
    call_command("demo_data", stdout=io.StringIO())
    TOTPDevice.objects.filter(user__username="finance").delete()

    call_command("demo_data", stdout=io.StringIO())

    device = TOTPDevice.objects.get(user__username="finance", confirmed=True)
    assert device.verify_token(demo_totp_code("finance")[0])


def test_demo_totp_prints_the_code_of_the_moment(capsys):
    call_command("demo_totp", "admin")

    code = capsys.readouterr().out.split()[0]
    # (the code of now, or of the 30 seconds before if a step began meanwhile)
    assert code in {demo_totp_code("admin")[0], demo_totp_code("admin", at=time.time() - 30)[0]}
    assert len(code) == 6
    assert code.isdigit()


def test_demo_totp_is_not_for_production(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="not production"):
        call_command("demo_totp", "finance")
