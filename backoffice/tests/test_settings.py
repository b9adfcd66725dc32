"""Settings come from the environment; production mode refuses to run on defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "BACKOFFICE_ENV": "production",
    "SECRET_KEY": "k9#Qv2!zR7mXp4&Lw8sT1yB6nD3fH0jC5gA_eU-oI+rZ(tY)xV",
    "ALLOWED_HOSTS": "billing.example.com",
    "DATABASE_URL": "postgres://backoffice@127.0.0.1:5432/backoffice",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_" + "a" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "b" * 32,
}
OUR_VARIABLES = {*PRODUCTION_ENV, "DEBUG", "STRIPE_API_BASE"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A fresh process, so settings are read from exactly this environment.
    clean = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_mode_refuses_to_start_without_its_secrets():
    result = manage("check", BACKOFFICE_ENV="production")
    assert result.returncode != 0
    for name in PRODUCTION_ENV.keys() - {"BACKOFFICE_ENV"}:
        assert name in result.stderr, f"{name} not named in: {result.stderr}"


def test_production_mode_names_the_one_secret_missing():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "STRIPE_WEBHOOK_SECRET"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "not set: STRIPE_WEBHOOK_SECRET." in result.stderr


def test_production_mode_with_its_secrets_passes_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_an_unknown_mode_is_refused():
    result = manage("check", BACKOFFICE_ENV="prod")
    assert result.returncode != 0
    assert "BACKOFFICE_ENV is 'prod'" in result.stderr


def test_nothing_set_means_sqlite_and_eager_celery():
    script = (
        "from django.conf import settings as s; from backoffice.celery import app; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], "
        "app.conf.task_always_eager, s.DEBUG)"
    )
    result = manage("shell", "--no-imports", "-c", script)
    assert result.returncode == 0, result.stderr
    engine, name, eager, debug = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert name == str(ROOT / "db.sqlite3")
    assert eager == "True"
    assert debug == "True"


def test_database_and_broker_urls_switch_to_postgresql_and_a_real_broker():
    script = (
        "from django.conf import settings as s; from backoffice.celery import app; "
        "print(s.DATABASES['default']['ENGINE'], app.conf.task_always_eager, app.conf.broker_url)"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        DATABASE_URL="postgres://u@db.example:5432/backoffice",
        CELERY_BROKER_URL="redis://broker.example:6379/2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "False",
        "redis://broker.example:6379/2",
    ]


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [("", "https://api.stripe.com"), ("http://127.0.0.1:12111", "http://127.0.0.1:12111")],
)
def test_stripe_api_base_points_stripe_python_elsewhere(api_base, expected):
    script = "import stripe; print(stripe.api_base, stripe.api_version)"
    result = manage("shell", "--no-imports", "-c", script, STRIPE_API_BASE=api_base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected, "2026-08-26.dahlia"]
