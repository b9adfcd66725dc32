"""The PostgreSQL side of finance's own queries: the reporting views and the role that reads
them. Run by `manage.py reports_query_setup` (a deployment runs it after each migrate; the
tests and CI run it on their database)."""

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from reports.reporting import SCHEMA, reporting_views_create
from reports.saved_queries import reader_user


@transaction.atomic
def reports_query_setup() -> str:
    """Create or update the reader's role and its grants, and re-create the views. Idempotent.

    The role logs in, inherits nothing, owns nothing and is a member of no role (so it cannot
    SET ROLE to the owner); it may use the schema `reporting` and select from its views, and
    nothing else: the base tables stay the owner's alone."""
    reader = reader_user()
    if not reader:
        raise ValueError("REPORTS_QUERY_DATABASE_URL names no user.")
    password = getattr(settings, "REPORTS_QUERY_DATABASE_PASSWORD", "") or None
    role = sql.Identifier(reader)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        options = sql.SQL(
            "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
        )
        statement = sql.SQL("{} ROLE {} WITH {}").format(sql.SQL(verb), role, options)
        if password:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        cursor.execute(statement.as_string(cursor.connection))
        # Whatever it was given before (a membership, a table): taken back.
        cursor.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            [reader],
        )
        for (granted,) in cursor.fetchall():
            cursor.execute(
                sql.SQL("REVOKE {} FROM {}")
                .format(sql.Identifier(granted), role)
                .as_string(cursor.connection)
            )
        cursor.execute(
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}")
            .format(role)
            .as_string(cursor.connection)
        )
        cursor.execute(
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}")
            .format(role)
            .as_string(cursor.connection)
        )
        reporting_views_create(cursor, reader=reader)
        cursor.execute(
            sql.SQL("ALTER ROLE {} SET search_path = {}")
            .format(role, sql.Identifier(SCHEMA))
            .as_string(cursor.connection)
        )
        # Views created later by migrations are the reader's to read too.
        cursor.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
            .format(sql.Identifier(SCHEMA), role)
            .as_string(cursor.connection)
        )
    return reader
