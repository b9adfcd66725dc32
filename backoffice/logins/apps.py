"""The apps of django-otp and django-axes, under names finance knows in the admin's sidebar."""

from axes.apps import AppConfig as AxesAppConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as OTPStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OTPTOTPConfig


class AuthenticatorAppsConfig(OTPTOTPConfig):
    verbose_name = "Two-factor: authenticator apps"


class RecoveryCodesConfig(OTPStaticConfig):
    verbose_name = "Two-factor: recovery codes"


class LoginLockoutsConfig(AxesAppConfig):
    verbose_name = "Login lockouts"
