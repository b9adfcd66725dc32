"""The pages of signing in that Django's admin does not have, in the admin's look: the code
asked after the password, setting up an authenticator app, the recovery codes (shown once),
one's own two-factor page, and the page a locked-out login sees."""

from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.logins.forms import CodeForm
from backoffice.logins.policy import SecondFactor, second_factor_required, second_factor_state
from backoffice.logins.services import (
    authenticator_confirm,
    authenticator_start,
    recovery_codes_left,
    recovery_codes_renew,
    second_factor_verify,
)

# The recovery codes just made, kept in the session only until the next page shows them.
RECOVERY_CODES_SESSION_KEY = "logins_recovery_codes_to_show"
TITLE = "Two-factor authentication"


def _next_url(request: HttpRequest) -> str:
    """Where to go once done: the page first asked for, if it is one of ours."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def _page(
    request: HttpRequest, template: str, title: str, *, status: int = 200, **context: Any
) -> HttpResponse:
    return render(
        request,
        template,
        {**admin.site.each_context(request), "title": title, **context},
        status=status,
    )


def _session_verified(request: HttpRequest, device: Device) -> None:
    """The session has given its second factor: a new session key for the new privilege."""
    request.session.cycle_key()
    otp_login(request, device)


@sensitive_post_parameters("code")
@staff_member_required
@never_cache
def verify(request: HttpRequest) -> HttpResponse:
    """After the password: the code of the person's authenticator app, or a recovery code."""
    state = second_factor_state(request)
    next_url = _next_url(request)
    if state is SecondFactor.ENROLMENT_NEEDED:
        return redirect(with_next("logins:enrol", next_url))
    if state is not SecondFactor.CODE_NEEDED:
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = second_factor_verify(user=request.user, code=form.cleaned_data["code"])
        if result.device is not None:
            _session_verified(request, result.device)
            if isinstance(result.device, StaticDevice):
                left = recovery_codes_left(user=request.user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code, which is now used up; {left} left. "
                    "Make new ones from your two-factor page if you are running out.",
                )
            return redirect(next_url)
        if result.wait_until is not None:
            form.add_error(
                "code",
                "Too many wrong codes in a row: the next code is checked from "
                f"{timezone.localtime(result.wait_until):%H:%M:%S} (UTC).",
            )
        else:
            form.add_error(
                "code",
                "This code is not right, or was already used. Type the code your "
                "authenticator app shows now, or one of your recovery codes.",
            )
    return _page(request, "logins/verify.html", TITLE, form=form, next=next_url)


def qr_code_svg(data: str) -> str:
    """`data` as an inline SVG QR code, black on white (also in the admin's dark theme)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=16)
    return str(image.to_string(encoding="unicode"))


@sensitive_post_parameters("code")
@staff_member_required
@never_cache
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the secret), confirm with a code.
    Replacing one needs the code of the present one first."""
    state = second_factor_state(request)
    next_url = _next_url(request)
    if state is SecondFactor.CODE_NEEDED:
        return redirect(with_next("logins:verify", next_url))
    device = authenticator_start(user=request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = authenticator_confirm(device=device, code=form.cleaned_data["code"])
        if codes is not None:
            _session_verified(request, device)
            request.session[RECOVERY_CODES_SESSION_KEY] = codes
            return redirect(with_next("logins:recovery_codes", next_url))
        form.add_error(
            "code",
            "This code is not right. Type the six digits the app shows now (a new code comes "
            "every 30 seconds; the phone's clock must be right), a second or two apart.",
        )
    secret = b32encode(device.bin_key).decode()
    return _page(
        request,
        "logins/enrol.html",
        "Set up two-factor authentication",
        form=form,
        next=next_url,
        qr_code=mark_safe(qr_code_svg(device.config_url)),  # noqa: S308 (our own SVG)
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        required=state is SecondFactor.ENROLMENT_NEEDED,
        replacing=TOTPDevice.objects.filter(user_id=request.user.pk, confirmed=True).exists(),
    )


@staff_member_required
@never_cache
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes just made, shown once; POST makes a new set (the old ones stop)."""
    next_url = _next_url(request)
    if request.method == "POST":
        if second_factor_state(request) is not SecondFactor.VERIFIED:
            return redirect(with_next("logins:verify", reverse("logins:status")))
        request.session[RECOVERY_CODES_SESSION_KEY] = recovery_codes_renew(user=request.user)
        return redirect(with_next("logins:recovery_codes", next_url))
    codes = request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
    return _page(
        request, "logins/recovery_codes.html", "Recovery codes", codes=codes, next=next_url
    )


@staff_member_required
@never_cache
def status(request: HttpRequest) -> HttpResponse:
    """One's own two-factor page: the authenticator app, the recovery codes left, whether the
    role requires them; set up, replace, new recovery codes."""
    user = request.user
    authenticator = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()
    return _page(
        request,
        "logins/status.html",
        TITLE,
        authenticator=authenticator,
        recovery_codes_left=recovery_codes_left(user=user),
        required=second_factor_required(user),
        verified=second_factor_state(request) is SecondFactor.VERIFIED,
    )


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """What django-axes answers a login refused for too many failures (AXES_LOCKOUT_CALLABLE):
    a page saying so and until when, 429 Too Many Requests."""
    cool_off = get_cool_off(request)
    return _page(
        request,
        "logins/locked_out.html",
        "Sign-in paused",
        status=429,
        failure_limit=settings.AXES_FAILURE_LIMIT,
        minutes=int(cool_off.total_seconds() // 60) if cool_off else None,
        until=timezone.now() + cool_off if cool_off else None,
    )


def redirect_to_second_factor(request: HttpRequest, state: SecondFactor) -> HttpResponseRedirect:
    url_name = "logins:verify" if state is SecondFactor.CODE_NEEDED else "logins:enrol"
    return redirect(with_next(url_name, request.get_full_path()))
