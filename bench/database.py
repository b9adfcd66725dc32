"""The database a benchmark runs in: a test database of its own, apart from the test suite's."""

from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test.utils import setup_test_environment


def bench_database(suffix: str, *, rebuild: bool) -> str:
    """Named after DATABASE_URL's (`<name>_<suffix>`; `<stem>_<suffix>.sqlite3` beside the
    SQLite default), created once, then kept unless `rebuild`. DEBUG is off, as in production:
    no query log kept on every request. Returns the database's name."""
    setup_test_environment()
    settings.DEBUG = False
    name = str(connection.settings_dict["NAME"])
    bench_db = (
        f"{name}_{suffix}"
        if connection.vendor != "sqlite"
        else str(Path(name).with_name(f"{Path(name).stem}_{suffix}.sqlite3"))
    )
    connection.settings_dict["TEST"]["NAME"] = bench_db
    # serialize=False: Django would otherwise write the whole database to a string (for test
    # cases that restore it), minutes of a filled bench database before its first figure.
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=not rebuild
    )
    return bench_db


def database_url() -> str:
    """The database this process uses (the bench's), as a DATABASE_URL for the processes a
    bench starts (gunicorn, Celery workers)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"
