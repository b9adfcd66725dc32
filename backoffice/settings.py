"""Settings for the finance back-office, read from the environment.

With nothing set it runs on an embedded default: a SQLite file in the project folder and
Celery tasks executed eagerly in-process. `BACKOFFICE_ENV=production` switches to production
mode, where every secret must come from the environment and `check --deploy` is clean.
Every variable is listed in README.md.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

BACKOFFICE_ENV = env.str("BACKOFFICE_ENV", default="development")
if BACKOFFICE_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"BACKOFFICE_ENV is {BACKOFFICE_ENV!r}; it must be 'development' or 'production'."
    )
PRODUCTION = BACKOFFICE_ENV == "production"

# In production these have no defaults: the process refuses to start, naming every one missing.
REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
)
if PRODUCTION:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "Production mode (BACKOFFICE_ENV=production) needs these environment variables, "
            f"which are not set: {', '.join(missing)}."
        )

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str(
    "SECRET_KEY", default="development-only-key-never-used-in-production-4f8a1c2e9b7d"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "backoffice.admin_site.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_countries",
    "djmoney",
    "backoffice.admin_site.StripeMirrorConfig",  # dj-stripe
    "django_celery_beat",
    "simple_history",
    "import_export",
    "nested_admin",
    # Signing in (backoffice/logins/): a second factor (django-otp's authenticator apps and
    # recovery codes) and the lockout after repeated failures (django-axes).
    "django_otp",
    "backoffice.logins.apps.AuthenticatorAppsConfig",
    "backoffice.logins.apps.RecoveryCodesConfig",
    "backoffice.logins.apps.LoginLockoutsConfig",
    "backoffice",
    "stripe_sync",
    "file_imports",
    "customers",
    "billing",
    "payments",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy and the headers SecurityMiddleware lacks (SECURE_CSP below).
    "backoffice.security_headers.SecurityHeadersMiddleware",
    # Endpoints called by machines (MACHINE_ENDPOINTS) are answered here, without what follows.
    "backoffice.middleware.MachineEndpointsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Uploads to the import pages refused over IMPORT_MAX_FILE_BYTES from their headers, and
    # bounded while they stream: before CsrfViewMiddleware, which reads the body
    # (file_imports/uploads.py).
    "file_imports.uploads.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signing in (backoffice/logins/): whether this session gave its second factor; sessions
    # past their time signed out; nothing before the second factor owed.
    "django_otp.middleware.OTPMiddleware",
    "backoffice.logins.middleware.SessionTimeoutMiddleware",
    "backoffice.logins.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a login refused for too many failures into its page (django-axes: last).
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Static files served by the app itself, right after the security middleware.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

# URL names called by machines, not people: answered without the session, CSRF, user, messages,
# frame-options and history middleware (backoffice/middleware.py).
MACHINE_ENDPOINTS = ["stripe-webhook"]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite file in the project folder unless DATABASE_URL says otherwise.
SQLITE_PATH = BASE_DIR / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Writers queue for the lock from the start of their transaction, instead of failing with
    # "database is locked" when two try to turn a read into a write (webhooks arriving together).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters sent apart from the SQL: psycopg's client-side quoting of large JSON values
    # (Stripe payloads written 100 at a time) took most of a sync's time.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Why a record changed is written by people (a justification, a hold note, a memo): kept
# whole, not cut at the library's default of 100 characters (longer failed the save).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
AUTH_USER_MODEL = "backoffice.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# One way dates are shown: ISO 8601 (backoffice/formats/en/formats.py).
FORMAT_MODULE_PATH = "backoffice.formats"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    # An uploaded import file, between its preview and its confirmation (file_imports.storage):
    # a folder all web processes of the server share; with several servers, a shared bucket.
    "import_export": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.str("IMPORT_FILES_DIR", default=str(BASE_DIR / "var"))},
    },
}

LOGIN_URL = "admin:login"

# --- Finance's own queries (reports/saved_queries.py; README.md, "Questions of your own").
# On PostgreSQL they run as a role that may only read the reporting views: created by
# `manage.py reports_query_setup`. Its login: REPORTS_QUERY_DATABASE_URL, or the app's
# database with this user and password (none: trust or peer authentication on the host).
REPORTS_QUERY_DATABASE_URL = env.str("REPORTS_QUERY_DATABASE_URL", default="")
REPORTS_QUERY_DATABASE_USER = env.str(
    "REPORTS_QUERY_DATABASE_USER", default="backoffice_reports_reader"
)
REPORTS_QUERY_DATABASE_PASSWORD = env.str("REPORTS_QUERY_DATABASE_PASSWORD", default="")
REPORTS_QUERY_TIMEOUT_MS = env.int("REPORTS_QUERY_TIMEOUT_MS", default=10_000)
REPORTS_QUERY_MAX_ROWS = env.int("REPORTS_QUERY_MAX_ROWS", default=10_000)

# --- Signing in (backoffice/logins/; README.md, "Security"): a second factor, a lockout after
# repeated failures, sessions that end.
# Who must have a second factor (an authenticator app's TOTP code, with recovery codes) before
# reaching any page: "superusers", "staff" (every login) or a permission, held through a role or
# alone. By default, whoever approves or finalizes: superusers, and the holders of the approval
# permissions (the Finance role). Anyone may set one up; whoever has one is always asked for it.
TWO_FACTOR_REQUIRED_FOR = env.list(
    "TWO_FACTOR_REQUIRED_FOR",
    default=["superusers", "billing.approve_contract", "billing.approve_invoice"],
)
OTP_TOTP_ISSUER = "Finance back-office"  # the name authenticator apps show beside the code
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's secret or codes
# Failed logins before signing in is refused, per username and per client address, and for how
# long (minutes; each failure meanwhile starts the wait again).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
# Proxies in front of the app that append the client's address to X-Forwarded-For, whose
# entries alone are believed (backoffice/logins/client_ip.py). 0: the header is ignored and the
# address is the connection's. Behind one proxy (a load balancer, nginx) set it to 1, or every
# login seems to come from the proxy and one person's failures pause everyone's sign-in.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Minutes without a request before a session is signed out, and hours after signing in before
# it ends however active (the cookie and the stored session expire then too).
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)
SESSION_MAX_AGE_HOURS = env.int("SESSION_MAX_AGE_HOURS", default=12)
for _name, _value, _least in (
    ("LOGIN_FAILURE_LIMIT", LOGIN_FAILURE_LIMIT, 1),
    ("LOGIN_LOCKOUT_MINUTES", LOGIN_LOCKOUT_MINUTES, 1),
    ("TRUSTED_PROXY_COUNT", TRUSTED_PROXY_COUNT, 0),
    ("SESSION_IDLE_TIMEOUT_MINUTES", SESSION_IDLE_TIMEOUT_MINUTES, 1),
    ("SESSION_MAX_AGE_HOURS", SESSION_MAX_AGE_HOURS, 1),
):
    if _value < _least:
        raise ImproperlyConfigured(f"{_name} is {_value}; it must be {_least} or more.")
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before its password is checked, and counts the failures.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = LOGIN_LOCKOUT_MINUTES / 60  # hours, as django-axes reads a float
# Either is enough to refuse: this username (from anywhere), or this address (for any username).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A successful login does not wipe the failures: one's own good password must not reset the
# count of an address that is guessing someone else's.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "backoffice.logins.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "backoffice.logins.views.locked_out"
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are logged
SESSION_COOKIE_AGE = SESSION_MAX_AGE_HOURS * 60 * 60
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security: production is HTTPS-only; a TLS-terminating proxy sets X-Forwarded-Proto.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# The contract page posts about 40 fields a line (its phases and tiers); Django's 1,000 refused
# (400) any contract past about 25 lines, and enterprise contracts have hundreds.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 50_000
# Python's cyclic garbage collector runs after every 700 new objects by default; a contract
# page of 200 lines builds about a million, and the collections (each walking every object the
# process holds) were a third of its time. 10,000 keeps the collector's work per page small
# while memory stays bounded (backoffice/apps.py applies it in every process).
GC_GENERATION0_THRESHOLD = env.int("GC_GENERATION0_THRESHOLD", default=10_000)

# --- Security headers, on every page (backoffice/security_headers.py), and the error pages.
# SecurityMiddleware's own, written out: no MIME sniffing; our URLs (which name customers and
# invoices) are not sent to other sites, Stripe's dashboard included; no other site's window
# keeps a handle on ours.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
# The Content-Security-Policy, in the shape of Django 6.0's settings of the same names (whose
# middleware replaces ours on upgrade). Scripts, style sheets, images and fonts come only from
# our own static files: no inline script, no eval, no other site. Style attributes are allowed
# (the admin, simple-history and our tables set a width or an alignment with them; they cannot
# run code nor load anything from elsewhere); <style> elements are not. Images may be data:
# URLs (nested-admin's icons are). Forms post only here; no page may be framed.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
if CSP_REPORT_URI := env.str("CSP_REPORT_URI", default=""):
    CONTENT_SECURITY_POLICY["report-uri"] = [CSP_REPORT_URI]
# CSP_REPORT_ONLY=true: browsers report what the policy would block (in their console, and to
# CSP_REPORT_URI) and block nothing; for trying a stricter policy, or a new page, in production.
CSP_REPORT_ONLY = env.bool("CSP_REPORT_ONLY", default=False)
SECURE_CSP = {} if CSP_REPORT_ONLY else CONTENT_SECURITY_POLICY
SECURE_CSP_REPORT_ONLY = CONTENT_SECURITY_POLICY if CSP_REPORT_ONLY else {}
# Browser features no page here uses, refused to every page (and anything it might embed).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}
# A refused form (its CSRF token expired or missing) says why, in the admin's look.
CSRF_FAILURE_VIEW = "backoffice.errors.csrf_failure"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # stripe-python logs request details at INFO; keep it quiet so no key ever reaches logs.
        "stripe": {"level": "WARNING"},
    },
}

# --- Stripe. The secret key lives only in the environment.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Another Stripe-compatible server (the local stand-in in tests); empty means Stripe itself.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# One API version for every call, ours and dj-stripe's: the one stripe-python 15.6 is built for.
STRIPE_API_VERSION = "2026-08-26.dahlia"
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# Our own Stripe connection (stripe_sync/client.py): seconds before a request is given up (and
# retried), attempts per request on 429/409/5xx/network errors.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=30.0)
STRIPE_MAX_ATTEMPTS = env.int("STRIPE_MAX_ATTEMPTS", default=4)
# A big type's backfill is read in this many creation-date slices, one task each, so that
# several workers read it at once: a few more than the workers keeps them all busy to the end.
STRIPE_BACKFILL_SLICES = env.int("STRIPE_BACKFILL_SLICES", default=8)
# Review every draft invoice the mirror sees (and hold it in Stripe until a person decides).
INVOICE_REVIEW_ON_SYNC = env.bool("INVOICE_REVIEW_ON_SYNC", default=True)
# Imports (README, Security: "Uploaded files"). The largest file accepted (bytes): refused from
# the request's Content-Length, or while it streams, before it is read.
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=20 * 1024 * 1024)
# The most rows a file may have (header aside), in every format: above the bench's 100,000.
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=150_000)
# An XLSX workbook is refused before it is parsed when its parts unpack to more than this in
# all (bytes: 150,000 contract lines are about 95 MB of sheet XML), or when a part of a megabyte
# or more unpacks to more than this many times its packed size (spreadsheets: 10-15 times).
IMPORT_XLSX_MAX_UNPACKED_BYTES = env.int(
    "IMPORT_XLSX_MAX_UNPACKED_BYTES", default=200 * 1024 * 1024
)
IMPORT_XLSX_MAX_RATIO = env.int("IMPORT_XLSX_MAX_RATIO", default=100)
# A file of more rows than this (at most, told before reading) is previewed and confirmed in a
# Celery task, its page showing the progress, not in the web request.
IMPORT_BACKGROUND_ROWS = env.int("IMPORT_BACKGROUND_ROWS", default=5_000)
# django-import-export: importing and exporting are permissions of their own on each model
# ("customers.import_account", "billing.export_contract"), given to roles in backoffice/roles.py.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_TMP_STORAGE_CLASS = "file_imports.storage.ImportFileStorage"
# Exports escape formulas with file_imports.cells.neutralised (see Resource.export), not the
# library's (which drops a leading "=" and turns numbers into text).
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
# A webhook signed longer ago than this is refused (Stripe's own default; never 0).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300

# --- Celery. Without a broker, tasks run eagerly in-process (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# A task that moves money is acknowledged only once it has finished, and redelivered if the
# worker dies under it; every task is therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Outcomes are recorded on our own records, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
# Seconds. No task may run longer than the hard limit...
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
# ...nor wait longer than Celery's default retry_backoff_max (600) for a retry...
# ...so a Redis visibility timeout of an hour never redelivers a task that is still running.
# A broker that refuses connections or never answers costs a publish at most seconds
# (stripe_sync/outbox.py publishes off the request, and keeps what it could not publish).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,  # above the worker's 1 s BRPOP
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="backoffice")
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Demo logins (make demo).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo")
