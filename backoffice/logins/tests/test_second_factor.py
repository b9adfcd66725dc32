"""The second factor, through the real login form and the code page, as a person goes through
them (none of these tests use client.login or force_login)."""

from base64 import b32encode
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.logins.checks import two_factor_required_for_check
from backoffice.logins.services import recovery_codes_renew
from backoffice.logins.tests.helpers import (
    ENROL,
    VERIFY,
    log_in,
    password_step,
    totp_code,
    totp_device,
)
from backoffice.models import User
from backoffice.roles import ACCOUNT_MANAGERS, FINANCE

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")
ACCOUNTS = reverse("admin:customers_account_changelist")
INVOICE_QUEUE = reverse("admin:billing_invoicereview_changelist")


def staff(username: str, role: str | None, **fields: object) -> User:
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def device_of(username: str) -> TOTPDevice:
    return TOTPDevice.objects.get(user__username=username, confirmed=True)


def code_for(device: TOTPDevice) -> str:
    return totp_code(device)


def test_finance_with_the_password_alone_reaches_no_page(client, demo_logins):
    # when finance gives the right password
    response = password_step(client, "finance", demo_logins["finance"])
    assert response.status_code == 302

    # then every page sends them to the code, keeping where they were going
    for url in (INDEX, ACCOUNTS, INVOICE_QUEUE):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{VERIFY}?next={url.replace('/', '%2F')}"
    # and a POST (an approval, say) is not carried out either
    assert client.post(INVOICE_QUEUE, {"action": "approve"}).status_code == 302
    page = client.get(f"{VERIFY}?next=/admin/")
    assert page.status_code == 200
    assert 'name="code"' in page.content.decode()
    assert "What needs doing" not in page.content.decode()


def test_finance_with_the_code_reaches_the_page_they_asked_for(client, demo_logins):
    # given finance past the password, on the way to the invoice queue
    password_step(client, "finance", demo_logins["finance"], next_url=INVOICE_QUEUE)
    client.get(INVOICE_QUEUE)

    # when they type the code their app shows
    response = client.post(
        f"{VERIFY}?next={INVOICE_QUEUE}", {"code": code_for(device_of("finance"))}
    )

    # then they land on the queue, and every page opens
    assert response.status_code == 302
    assert response["Location"] == INVOICE_QUEUE
    assert client.get(INVOICE_QUEUE).status_code == 200
    assert "What needs doing" in client.get(INDEX).content.decode()


def test_a_wrong_code_is_refused(client, demo_logins):
    password_step(client, "finance", demo_logins["finance"])
    right = code_for(device_of("finance"))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = client.post(f"{VERIFY}?next=/admin/", {"code": wrong})

    assert response.status_code == 200
    assert "This code is not right" in response.content.decode()
    assert client.get(INDEX)["Location"].startswith(VERIFY)


def test_after_a_wrong_code_the_next_waits_a_moment(client, demo_logins):
    # given a wrong code just typed
    password_step(client, "finance", demo_logins["finance"])
    device = device_of("finance")
    client.post(VERIFY, {"code": "000000" if code_for(device) != "000000" else "111111"})

    # then even the right code is not checked at once (guessing costs time)...
    response = client.post(VERIFY, {"code": code_for(device)})
    assert "Too many wrong codes in a row" in response.content.decode()
    assert client.get(INDEX)["Location"].startswith(VERIFY)

    # ...but is, once the pause is over (one second after one failure)
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=2)
    )
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert client.get(INDEX).status_code == 200


def test_a_code_is_accepted_once(demo_logins):
    # given finance signed in with the code of the moment
    first, second = Client(), Client()
    password_step(first, "finance", demo_logins["finance"])
    device = device_of("finance")
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    code = f"{totp.token():06d}"
    assert first.post(VERIFY, {"code": code}).status_code == 302

    # when someone who saw it types it in another session
    password_step(second, "finance", demo_logins["finance"])
    response = second.post(VERIFY, {"code": code})

    # then it is refused
    assert response.status_code == 200
    assert second.get(INDEX)["Location"].startswith(VERIFY)


def test_a_recovery_code_lets_in_once(demo_logins):
    # given finance with recovery codes
    codes = recovery_codes_renew(user=User.objects.get(username="finance"))
    client = Client()

    # when they sign in with one instead of the app's code
    password_step(client, "finance", demo_logins["finance"])
    response = client.post(VERIFY, {"code": codes[0].upper()}, follow=True)

    # then they are in, and told the code is used up
    assert response.status_code == 200
    page = response.content.decode()
    assert "What needs doing" in page
    assert "You signed in with a recovery code, which is now used up; 9 left" in page

    # when the same code is typed again at the next sign-in
    client.post(reverse("admin:logout"))
    again = Client()
    password_step(again, "finance", demo_logins["finance"])
    response = again.post(VERIFY, {"code": codes[0]})

    # then it is refused; another of the set still works (after the pause a wrong code costs)
    assert "This code is not right" in response.content.decode()
    assert again.get(INDEX)["Location"].startswith(VERIFY)
    StaticDevice.objects.filter(user__username="finance").update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=2)
    )
    assert again.post(VERIFY, {"code": codes[1]}).status_code == 302
    assert again.get(INDEX).status_code == 200


def test_a_manager_without_an_authenticator_is_not_asked(client, demo_logins):
    response = password_step(client, "manager", demo_logins["manager"])

    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200
    assert client.get(ACCOUNTS).status_code == 200


def test_a_manager_who_set_one_up_is_asked_for_it(client, demo_logins):
    device = totp_device(User.objects.get(username="manager"))

    password_step(client, "manager", demo_logins["manager"])

    assert client.get(ACCOUNTS)["Location"].startswith(VERIFY)
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert client.get(ACCOUNTS).status_code == 200


def test_an_approver_without_an_authenticator_sets_one_up_before_any_page(client):
    # given a new finance person, who has never set up a second factor
    staff("fiona2", FINANCE)
    password_step(client, "fiona2", "pw-fiona2", next_url=INVOICE_QUEUE)

    # then every page takes them to set one up
    for url in (INDEX, INVOICE_QUEUE, VERIFY):
        assert client.get(url)["Location"].startswith(ENROL), url

    # the set-up page shows a QR code and the secret to type
    page = client.get(f"{ENROL}?next={INVOICE_QUEUE}").content.decode()
    device = TOTPDevice.objects.get(user__username="fiona2")
    assert not device.confirmed
    assert "Your role requires a second factor" in page
    assert "Invoice reviews" not in page  # no screen's name before the second factor
    assert "<svg" in page
    assert "<path" in page
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page

    # a wrong code does not confirm it
    response = client.post(ENROL, {"code": "12345x"})
    assert "This code is not right" in response.content.decode()
    assert client.get(INDEX)["Location"].startswith(ENROL)

    # when they confirm it with the code the app shows
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    response = client.post(f"{ENROL}?next={INVOICE_QUEUE}", {"code": code_for(device)})

    # then they see their recovery codes, once, then reach the page they asked for
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    codes = list(
        StaticToken.objects.filter(device__user__username="fiona2").values_list("token", flat=True)
    )
    assert len(codes) == 10
    assert all(f"<code>{code}</code>" in page for code in codes)
    assert f'href="{INVOICE_QUEUE}"' in page
    assert not any(code in client.get(response["Location"]).content.decode() for code in codes)
    assert client.get(INVOICE_QUEUE).status_code == 200

    # and at the next sign-in they are asked for the code
    client.post(reverse("admin:logout"))
    password_step(client, "fiona2", "pw-fiona2")
    assert client.get(INDEX)["Location"].startswith(VERIFY)


def test_a_superuser_must_have_a_second_factor(client):
    staff("root", None, is_superuser=True)

    password_step(client, "root", "pw-root")

    assert client.get(reverse("admin:backoffice_user_changelist"))["Location"].startswith(ENROL)


def test_whoever_holds_an_approval_permission_alone_must_too(client):
    from django.contrib.auth.models import Permission

    user = staff("approver", None)
    user.user_permissions.add(
        Permission.objects.get(codename="approve_invoice", content_type__app_label="billing")
    )

    password_step(client, "approver", "pw-approver")

    assert client.get(INDEX)["Location"].startswith(ENROL)


def test_the_setting_decides_whose_role_requires_it(client, settings, demo_logins):
    # every staff login
    settings.TWO_FACTOR_REQUIRED_FOR = ["staff"]
    staff("am", ACCOUNT_MANAGERS)
    password_step(client, "am", "pw-am")
    assert client.get(INDEX)["Location"].startswith(ENROL)

    # nobody: a finance person without an app signs in with the password alone...
    settings.TWO_FACTOR_REQUIRED_FOR = []
    other = Client()
    staff("fiona3", FINANCE)
    password_step(other, "fiona3", "pw-fiona3")
    assert other.get(INDEX).status_code == 200
    # ...but whoever has one is still asked for it
    third = Client()
    password_step(third, "finance", demo_logins["finance"])
    assert third.get(INDEX)["Location"].startswith(VERIFY)


def test_a_mistyped_setting_is_refused_by_the_checks(settings):
    settings.TWO_FACTOR_REQUIRED_FOR = ["superusers", "billing.aprove_invoice", "Finance"]

    errors = two_factor_required_for_check(None)

    assert [error.id for error in errors] == ["logins.E001", "logins.E001"]
    assert "'billing.aprove_invoice'" in errors[0].msg
    settings.TWO_FACTOR_REQUIRED_FOR = ["superusers", "staff", "billing.approve_contract"]
    assert two_factor_required_for_check(None) == []


def test_without_the_middleware_the_admin_still_refuses_a_session_without_its_code(
    client, settings, demo_logins
):
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "backoffice.logins.middleware.SecondFactorMiddleware"
    ]
    password_step(client, "finance", demo_logins["finance"])

    response = client.get(INVOICE_QUEUE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_way_on_after_the_code_stays_on_this_site(client, demo_logins):
    password_step(client, "finance", demo_logins["finance"])

    response = client.post(
        f"{VERIFY}?next=https://evil.example/admin/", {"code": code_for(device_of("finance"))}
    )

    assert response["Location"] == INDEX


def test_recovery_codes_are_renewed_only_after_the_code(client, demo_logins):
    # given finance past the password only
    old = recovery_codes_renew(user=User.objects.get(username="finance"))
    password_step(client, "finance", demo_logins["finance"])

    # then new codes cannot be made
    response = client.post(reverse("logins:recovery_codes"))
    assert response["Location"].startswith(VERIFY)
    assert set(
        StaticToken.objects.filter(device__user__username="finance").values_list("token", flat=True)
    ) == set(old)

    # once past the code, they can; the old ones stop working
    client.post(VERIFY, {"code": code_for(device_of("finance"))})
    page = client.post(reverse("logins:recovery_codes"), follow=True).content.decode()
    new = set(
        StaticToken.objects.filter(device__user__username="finance").values_list("token", flat=True)
    )
    assert len(new) == 10
    assert not new & set(old)
    assert all(code in page for code in new)


def test_replacing_the_authenticator_needs_the_present_one(client, demo_logins):
    password_step(client, "finance", demo_logins["finance"])
    old = device_of("finance")

    # before the code: no replacing
    assert client.get(ENROL)["Location"].startswith(VERIFY)

    # after it: a new app, confirmed, replaces the old one
    client.post(VERIFY, {"code": code_for(old)})
    assert client.get(ENROL).status_code == 200
    new = TOTPDevice.objects.get(user__username="finance", confirmed=False)
    assert client.post(ENROL, {"code": code_for(new)}).status_code == 302
    assert list(TOTPDevice.objects.filter(user__username="finance")) == [new]
    # and the session stays verified with the new one
    assert client.get(INDEX).status_code == 200


def test_the_two_factor_page_is_in_the_user_tools(client, demo_logins):
    log_in(client, "finance", demo_logins["finance"])

    page = client.get(INDEX).content.decode()
    status = client.get(reverse("logins:status")).content.decode()

    assert f'href="{reverse("logins:status")}"' in page
    assert "An <strong>authenticator app</strong> is set up for you" in status


def test_the_demo_logins_codes_come_from_demo_totp(client, demo_logins, capsys):
    # the code demo_totp prints is the one that lets the demo's finance login in
    password_step(client, "finance", demo_logins["finance"])
    call_command("demo_totp", "finance")
    code = capsys.readouterr().out.split()[0]

    assert client.post(VERIFY, {"code": code}).status_code == 302
    assert client.get(INDEX).status_code == 200
