"""Alembic environment: runs migrations on the Flask app's database."""

import logging
from collections.abc import Iterable
from logging.config import fileConfig

from alembic import context
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from flask import current_app
from sqlalchemy import Connection, text

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate = current_app.extensions["migrate"]
engine = migrate.db.engine
metadata = migrate.db.metadata
# ConfigParser treats "%" as interpolation, so a password containing one must
# be escaped.
config.set_main_option(
    "sqlalchemy.url",
    engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def skip_empty_revision(
    context: MigrationContext,
    revision: str | Iterable[str | None],
    directives: list[MigrationScript],
) -> None:
    """Make `flask db migrate` write no file when no model changed."""
    if getattr(config.cmd_opts, "autogenerate", False):
        upgrade_ops = directives[0].upgrade_ops
        if upgrade_ops is not None and upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


# Any constant, the same in every process that migrates this database.
MIGRATION_LOCK_KEY = 7_263_531_440


def take_turns(connection: Connection) -> None:
    """Let concurrent upgrades of one PostgreSQL database run one at a time.

    Two deploys, or replicas that each migrate as they start, may upgrade at
    once. The lock lasts until this upgrade's transaction ends, and a later
    upgrade then finds the schema current instead of failing half way. SQLite
    lets one writer at a time in by itself.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )


def sqlite_foreign_keys(connection: Connection, state: str) -> None:
    """Turn SQLite's checks of REFERENCES off while migrating, and on again.

    The app turns them on (extensions.py). A batch ALTER copies a table, drops
    it and renames the copy: with the checks on, dropping ``users`` would first
    delete every row that refers to it ON DELETE CASCADE. SQLite takes the
    setting outside a transaction only.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA foreign_keys = {state}")
        connection.commit()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`flask db upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A copy: the app's Migrate keeps its arguments from one command to the
    # next, and a hook left there by `flask db upgrade` would read that
    # command's options, so a later `flask db migrate` in the same process (a
    # test's) wrote an empty migration.
    configure_args = dict(migrate.configure_args)
    if configure_args.get("process_revision_directives") is None:
        configure_args["process_revision_directives"] = skip_empty_revision
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=metadata, **configure_args
        )
        sqlite_foreign_keys(connection, "OFF")
        try:
            with context.begin_transaction():
                take_turns(connection)
                context.run_migrations()
        finally:
            sqlite_foreign_keys(connection, "ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
