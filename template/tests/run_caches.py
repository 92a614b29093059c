"""What the test run builds once and every app the tests create reuses.

Most tests create an app of their own, so that no setting, route or row leaks
from one test into the next. Three things each new app would otherwise build
again, at a cost larger than most tests: its compiled Jinja templates, the
Python functions Werkzeug compiles to build each URL rule's links, and an empty
database schema. The conftest installs these caches; each one gives a new app
exactly what it would have built itself.
"""

import sqlite3
from collections.abc import Callable
from types import CodeType
from typing import ClassVar

from flask_sqlalchemy import SQLAlchemy
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, text
from werkzeug.routing import Rule

# What Werkzeug compiles for a rule: values in, the link's host and path out.
UrlBuilder = Callable[..., tuple[str, str]]


class CompiledTemplates(BytecodeCache):
    """Templates compiled once for the whole test run. A template whose source
    changed is compiled again."""

    def __init__(self) -> None:
        self.compiled: dict[str, tuple[str, CodeType | None]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        checksum, code = self.compiled.get(bucket.key, ("", None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = (bucket.checksum, bucket.code)


class RuleWithSharedBuilders(Rule):
    """A URL rule whose link builders are compiled once for the whole test run.

    Werkzeug compiles two small Python functions for every rule of every app:
    three quarters of what ``create_app()`` costs. A builder depends only on
    the rule as written (with its converters' arguments), how it was parsed (with
    its host or subdomain), its converters and its defaults: the key holds them.
    """

    builders: ClassVar[dict[tuple[object, ...], UrlBuilder]] = {}

    def _compile_builder(self, append_unknown: bool = True) -> UrlBuilder:
        key = (
            self.rule,
            tuple(self._trace),
            tuple((name, type(kind)) for name, kind in self._converters.items()),
            repr(sorted((self.defaults or {}).items())),
            append_unknown,
        )
        if key not in self.builders:
            self.builders[key] = super()._compile_builder(append_unknown)
        return self.builders[key]


class EmptySchemas:
    """Each test's database starts with every table and no rows.

    An in-memory SQLite database starts as a copy of one created once per run:
    SQLite copies the pages of a small database far faster than SQLAlchemy
    issues its CREATE statements. On PostgreSQL (TEST_DATABASE_URL) tables in
    place are emptied with one TRUNCATE, and dropped and created again only when
    a test (a migration test, say) left others or lacks some; the run drops them
    at its end. Other databases are created and dropped for each test.
    """

    def __init__(self) -> None:
        # One empty database per set of tables, should a test declare a model.
        self.copies: dict[tuple[str, ...], sqlite3.Connection] = {}
        # PostgreSQL databases whose tables stay between tests.
        self.kept: set[str] = set()

    def create(self, db: SQLAlchemy) -> None:
        if self.in_memory(db):
            self.copy_into(db)
        elif self.truncates(db) and self.tables_as_created(db):
            self.truncate(db)
        else:
            # Tables an interrupted run left behind may hold its rows.
            db.drop_all()
            db.create_all()

    def drop(self, db: SQLAlchemy) -> None:
        if self.truncates(db):
            self.kept.add(db.engine.url.render_as_string(hide_password=False))
        elif not self.in_memory(db):
            db.drop_all()
        # An in-memory database goes with its engine.
        db.engine.dispose()

    def drop_kept(self, db: SQLAlchemy) -> None:
        for url in self.kept:
            engine = create_engine(url)
            db.metadata.drop_all(engine)
            engine.dispose()

    def copy_into(self, db: SQLAlchemy) -> None:
        tables = tuple(db.metadata.tables)
        with db.engine.connect() as connection:
            database = connection.connection.driver_connection
            assert isinstance(database, sqlite3.Connection)
            if tables in self.copies:
                self.copies[tables].backup(database)
            else:
                db.create_all()
                copy = sqlite3.connect(":memory:", check_same_thread=False)
                database.backup(copy)
                self.copies[tables] = copy

    @staticmethod
    def truncates(db: SQLAlchemy) -> bool:
        return db.engine.dialect.name == "postgresql" and bool(db.metadata.tables)

    @staticmethod
    def tables_as_created(db: SQLAlchemy) -> bool:
        # The catalogue, not SQLAlchemy's inspector: a tenth of the time.
        tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        with db.engine.connect() as connection:
            found = set(connection.scalars(text(tables)))
        return found == set(db.metadata.tables)

    @staticmethod
    def truncate(db: SQLAlchemy) -> None:
        names = ", ".join(f'"{name}"' for name in db.metadata.tables)
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    @staticmethod
    def in_memory(db: SQLAlchemy) -> bool:
        url = db.engine.url
        in_memory = url.database in (None, "", ":memory:")
        return url.get_backend_name() == "sqlite" and in_memory
