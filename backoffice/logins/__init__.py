"""Signing in: a second factor (TOTP authenticator apps and recovery codes, django-otp), a
lockout after repeated failures (django-axes), and sessions that end (idle and absolute).

README.md, "Security", says what is enforced and which settings change it.
"""
