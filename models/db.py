"""Engines and sessions for jobs, the CLI and tests (the web apps use Flask-SQLAlchemy-Lite)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time as time_of_day
from functools import lru_cache
from typing import Any

from psycopg import _queries as psycopg_queries
from psycopg import pq
from sqlalchemy import (Date, DateTime, Engine, LargeBinary, Numeric, Time, TypeDecorator, bindparam, create_engine,
                        event, exc, func, select)
from sqlalchemy import inspect
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.util import identity_key

from . import crypto
from .config import ModelsConfig

_engines: dict[str, Engine] = {}
#: A pooled connection idle for longer than this is tested (SELECT 1) before use; a busier one is not (a test
#: before every use costs two round trips per request; a connection broken meanwhile fails one request, and the
#: pool is then emptied of its siblings).
PING_AFTER_IDLE_SECONDS = 10.0


def engine_options(url: str) -> dict[str, Any]:
    """Engine keyword arguments suited to the database behind ``url``."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # A database that accepts connections but never answers must not hold a request or a job forever.
    # Pooled connections idle for a while are tested before use: see install_idle_ping.
    return {"pool_timeout": 5, "connect_args": {"connect_timeout": 5}}


def _note_checkin(_dbapi_connection, record) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    checked_in = record.info.get("checked_in_at")
    if checked_in is not None and time.monotonic() - checked_in < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.commit()  # not rollback(): psycopg forgets its prepared statements on every ROLLBACK
    except Exception as error:  # the pool retries with a new connection
        raise exc.DisconnectionError() from error


def install_idle_ping(engine: Engine) -> None:
    """Test pooled connections that stayed idle ``PING_AFTER_IDLE_SECONDS`` before handing them out (not
    SQLite's): a connection the database closed meanwhile is replaced, not given to a request."""
    if engine.dialect.name != "sqlite" and not event.contains(engine, "checkout", _ping_if_idle):
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)


#: Key of ``Connection.info``: the transaction under way ran a statement other than a SELECT.
_WROTE = "mese_transaction_wrote"


def _note_writes(conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    if not statement.lstrip()[:6].upper() == "SELECT":
        conn.info[_WROTE] = True


def _forget_writes(conn) -> None:
    conn.info.pop(_WROTE, None)


def _commit_if_read_only(conn) -> None:
    # Every request ends its transaction by a rollback (the session is closed). For a transaction that only
    # read, COMMIT undoes nothing less, and psycopg keeps its prepared statements, which it drops on every
    # ROLLBACK (and sends DEALLOCATE ALL: one more round trip). The rollback that follows then has nothing to do.
    # A transaction that ran anything but a SELECT, or failed, is rolled back as before.
    if conn.invalidated or conn.info.pop(_WROTE, False):  # a lost connection has nothing left to end
        return
    driver = conn.connection.driver_connection
    if driver.info.transaction_status == pq.TransactionStatus.INTRANS:
        try:
            driver.commit()
        except Exception:  # the rollback that follows reports what is wrong with the connection
            pass


def install_read_only_commit(engine: Engine) -> None:
    """End PostgreSQL transactions that only read with COMMIT instead of ROLLBACK (no effect on SQLite)."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "rollback", _commit_if_read_only):
        event.listen(engine, "before_cursor_execute", _note_writes)
        event.listen(engine, "rollback", _commit_if_read_only)
        event.listen(engine, "commit", _forget_writes)


#: Reads that take row or advisory locks: they must hold them until the end of a transaction.
_LOCKING_READ = re.compile(r"\bFOR\s+(?:UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b|pg_advisory", re.IGNORECASE)
#: What makes a WITH query more than a read: a data-modifying common table expression.
_WRITING_WITH = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


@lru_cache(maxsize=2048)
def _plain_read(statement: str) -> bool:
    # Cached: the statements of an app are the same few strings (SQLAlchemy caches their compiled text).
    start = statement.lstrip()[:6].upper()
    if start[:4] == "WITH" and not _WRITING_WITH.search(statement):  # common table expressions that only read
        start = "SELECT"
    return start == "SELECT" and not _LOCKING_READ.search(statement)


def _autocommit(dbapi_connection, _record) -> None:
    dbapi_connection.autocommit = True


def _begin_before_write(conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    if _plain_read(statement):
        return
    driver = conn.connection.driver_connection
    if driver.info.transaction_status == pq.TransactionStatus.IDLE:
        # psycopg in autocommit still sends COMMIT or ROLLBACK when the session ends a transaction it did not
        # begin itself (it looks at the server's transaction status): the writes stay one transaction.
        driver.execute("BEGIN")


def install_autocommit_until_write(engine: Engine) -> None:
    """PostgreSQL connections of ``engine`` in autocommit until a write: a plain SELECT runs on its own, without
    BEGIN and COMMIT round trips; a transaction opens before the first other statement (a write, a SELECT ...
    FOR UPDATE, a SAVEPOINT...) and lasts until the session commits or rolls back. Under READ COMMITTED, each
    statement sees its own snapshot either way. No effect on SQLite."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "before_cursor_execute",
                                                                  _begin_before_write):
        event.listen(engine, "connect", _autocommit)
        event.listen(engine, "before_cursor_execute", _begin_before_write)


#: psycopg converts a statement's placeholders again on each execution when it is longer than its cache's limit
#: (4 KB in psycopg 3.3); the member pages' statements, with the reads riding on the sign-in check, reach 5 KB.
#: A module setting of psycopg's, read at each execution: raised once here (no effect if psycopg drops it).
LONGEST_KEPT_CONVERSION = 16_384
if getattr(psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", LONGEST_KEPT_CONVERSION) < LONGEST_KEPT_CONVERSION:
    psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = LONGEST_KEPT_CONVERSION


class DriverRead:
    """A SELECT run straight on the driver's cursor, for the reads of the pages members load most (the sign-in
    check on every request, the rows a page shows), where SQLAlchemy's execution costs more than the query (about
    0.15 ms of Python per statement): compiled once per dialect; parameters and columns converted
    by their types as SQLAlchemy does; ``before_cursor_execute`` listeners still see it (without a context); a
    driver error raised as SQLAlchemy raises it, a lost connection invalidated."""

    def __init__(self, query) -> None:
        self.query = query
        self._compiled: dict[str, tuple] = {}
        self._decoders: tuple | None = None  # how its columns come back from JSON (first_with), found once

    @staticmethod
    def fits(query) -> bool:
        """Whether ``query`` can run on the driver: its values written in the SQL at execution (IN lists,
        literal_execute) are its own fixed values, never a caller's parameter."""
        return _fixed_values_only(query.compile())

    def _prepare(self, dialect) -> tuple:
        compiled = self.query.compile(dialect=dialect)
        statement, positions = compiled.string, compiled.positiontup
        if compiled.post_compile_params or compiled.literal_execute_params:
            # Values SQLAlchemy writes into the SQL at each execution (literal_execute, as the IN list a partial
            # index needs): written once here, so they must be the statement's own values.
            if not _fixed_values_only(compiled):
                raise TypeError("a DriverRead writes only its statement's own literal values in its SQL (fits)")
            others = {name: None for bind, name in compiled.bind_names.items()
                      if bind not in compiled.literal_execute_params}
            expanded = compiled.construct_expanded_state(others)
            statement, positions = expanded.statement, expanded.positiontup
        # The dialect's own types (dialect_impl): SQLite's DateTime turns the driver's text into a datetime, which the
        # generic type behind a TypeDecorator would not.
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                 for bind, name in compiled.bind_names.items() if bind not in compiled.literal_execute_params}
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in self.query.selected_columns]
        columns = tuple((index, process) for index, process in enumerate(processors) if process is not None)
        found = self._compiled[dialect.name] = (statement, compiled, binds, columns, positions)
        return found

    def first(self, connection, parameters: dict) -> tuple | None:
        """The first row of the query run with ``parameters`` on ``connection`` (a SQLAlchemy Connection)."""
        rows = self._run(connection, parameters, one=True)
        return rows[0] if rows else None

    def all(self, connection, parameters: dict) -> list[tuple]:
        """Every row of the query run with ``parameters`` on ``connection`` (a SQLAlchemy Connection)."""
        return self._run(connection, parameters, one=False)

    def rows(self, session: Session, parameters: dict) -> list[tuple]:
        """Every row of the query run with ``parameters`` in ``session``: the rows read ahead with this request's
        sign-in check when they were, with the same parameters (:meth:`first_with`), else read now."""
        kept = session.info.get(_READ_AHEAD)
        if kept:
            found = kept.pop((self, _frozen(parameters)), None)
            if found is not None:
                return found
        return self._run(session.connection(), parameters, one=False)

    def row(self, session: Session, parameters: dict) -> tuple | None:
        """The first row of :meth:`rows`, or None."""
        rows = self.rows(session, parameters)
        return rows[0] if rows else None

    def first_with(self, session: Session, parameters: dict, ahead: Sequence[tuple[DriverRead, dict]], *,
                   key: str, key_value) -> tuple | None:
        """The first row of this query, and in the same statement the rows of the reads ``ahead`` (each with its
        parameters but ``key``, which takes ``key_value``: a scalar subquery, on ``parameters``, of this row's
        value of it), kept in ``session`` for the page that runs them next (:meth:`rows`), once. The reads are
        columns of the row: they are read only when a row is found.

        So a page's reads ride with the sign-in check: one statement and one round trip per page. On PostgreSQL
        only (each read's rows come as a JSON array column); elsewhere, or with nothing ahead, the reads run
        when the page asks. Only small reads should ride: the planner does not see the key's value (it comes from
        this row), so it plans for any member; a read over a large table whose members' row counts differ widely
        (the reimbursements) runs on its own, where its plan is made for the member's value."""
        connection = session.connection()
        if not ahead or connection.dialect.name != "postgresql":
            return self.first(connection, parameters)
        reads = tuple(read for read, _values in ahead)
        combined = _riding(self, reads, key, key_value)
        values = dict(parameters)
        for index, (_read, extra) in enumerate(ahead):
            values.update({f"ahead{index}_{name}": value for name, value in extra.items()})
        found = combined._run(connection, values, one=True)
        if not found:
            return None
        row = found[0]
        width = len(self.query.selected_columns)
        key_value = row[width]
        kept = session.info.setdefault(_READ_AHEAD, {})
        for (read, extra), rows in zip(ahead, row[width + 1:]):
            kept[(read, _frozen({**extra, key: key_value}))] = read._from_json(connection.dialect, rows or [])
        return row[:width]

    def _from_json(self, dialect, rows: list[list]) -> list[tuple]:
        """This query's rows as read from their JSON arrays, converted as the driver and SQLAlchemy would."""
        columns = (self._compiled.get(dialect.name) or self._prepare(dialect))[3]
        decoders = self._json_decoders()
        converted = []
        for values in rows:
            for index, decode in decoders:
                if values[index] is not None:
                    values[index] = decode(values[index])
            for index, process in columns:
                if values[index] is not None:
                    values[index] = process(values[index])
            converted.append(tuple(values))
        return converted

    def _json_decoders(self) -> tuple:
        if self._decoders is None:
            self._decoders = tuple((index, decode) for index, decode in (
                (index, _json_decoder(column.type)) for index, column in enumerate(self.query.selected_columns))
                if decode is not None)
        return self._decoders

    def _run(self, connection, parameters: dict, *, one: bool) -> list[tuple]:
        dialect = connection.dialect
        statement, compiled, binds, columns, positions = self._compiled.get(dialect.name) or self._prepare(dialect)
        values = compiled.construct_params(parameters)
        for name, process in binds.items():
            if process is not None and values.get(name) is not None:
                values[name] = process(values[name])
        if positions is not None:
            values = tuple(values[name] for name in positions)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            connection.dispatch.before_cursor_execute(connection, cursor, statement, values, None, False)
            cursor.execute(statement, values)
            if one:
                row = cursor.fetchone()
                rows = [] if row is None else [row]
            else:
                rows = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, dbapi_connection, cursor)
            if lost:
                connection.invalidate(error)
            raise exc.DBAPIError.instance(statement, values, error, dialect.loaded_dbapi.Error,
                                          connection_invalidated=lost, dialect=dialect) from error
        finally:
            cursor.close()
        if not columns:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for index, process in columns:  # only the columns whose type converts what the driver gives
                if values[index] is not None:
                    values[index] = process(values[index])
            converted.append(tuple(values))
        return converted


def _fixed_values_only(compiled) -> bool:
    return not compiled.post_compile_params and all(
        bind.value is not None or bind.callable is not None for bind in compiled.literal_execute_params)


#: Key of ``Session.info`` holding the rows read ahead (DriverRead.first_with) until the page reads them.
_READ_AHEAD = "mese_read_ahead"
#: The statements of a read with others riding on it, built once per combination (one per page).
_RIDING: dict[tuple, DriverRead] = {}


def _frozen(parameters: dict) -> tuple:
    return tuple(sorted(parameters.items()))


def _json_decoder(sqltype):
    """How a value of ``sqltype`` read from JSON becomes what the driver would have given: None when JSON gives
    it as it is (text, numbers, booleans, JSON)."""
    while isinstance(sqltype, TypeDecorator):
        sqltype = sqltype.impl_instance
    if isinstance(sqltype, DateTime):
        return datetime.fromisoformat
    if isinstance(sqltype, Date):
        return date.fromisoformat
    if isinstance(sqltype, Time):
        return time_of_day.fromisoformat
    if isinstance(sqltype, LargeBinary):
        return lambda text: bytes.fromhex(text[2:])  # PostgreSQL writes bytea as "\\x0a1b..."
    if isinstance(sqltype, Numeric):
        raise TypeError("a read ahead gives JSON numbers: read a NUMERIC column on its own")
    return None


def _riding(read: DriverRead, reads: tuple[DriverRead, ...], key: str, key_value) -> DriverRead:
    """``read`` with ``key_value`` and, for each of ``reads``, a column holding its rows as a JSON array: its
    ``key`` parameter replaced by ``key_value``, its other parameters renamed ``ahead<n>_<name>``. Built once per
    combination: one per page that reads ahead."""
    found = _RIDING.get((read, reads, key, key_value))
    if found is None:
        arrays = [_json_rows(ahead.query, key, key_value, f"ahead{index}_") for index, ahead in enumerate(reads)]
        found = _RIDING[(read, reads, key, key_value)] = DriverRead(read.query.add_columns(key_value, *arrays))
    return found


def _json_rows(query, key: str, key_value, prefix: str):
    """``ARRAY(SELECT json_build_array(q.*) FROM (<query>) AS q)``, its ``key`` parameter replaced by
    ``key_value``: the rows in the query's order, which a scan of a sorted subquery keeps when nothing is joined to
    it (PostgreSQL's documented way of ordering an aggregate's input; the tests compare whole pages)."""

    def rebind(element, **_kw):
        if isinstance(element, BindParameter):
            if element.key == key:
                return key_value
            if not element.unique:  # an anonymous one holds its value and has a name of its own
                return bindparam(prefix + element.key, type_=element.type)
        return None

    rows = replacement_traverse(query, {}, rebind).subquery("q")
    return func.array(select(func.json_build_array(*rows.c)).scalar_subquery())


def as_loaded(session: Session, cls, values: dict):
    """The object of ``cls`` with these column ``values`` (a DriverRead's row) in ``session``, as a query would have
    loaded it: the one already there if any; else made from them, its other columns read from the database on
    first use."""
    found = session.identity_map.get(identity_key(cls, values["id"]))
    if found is not None:
        return found
    made = inspect(cls).class_manager.new_instance()
    instance_dict(made).update(values)  # as a query's loading does: no attribute event, no history
    make_transient_to_detached(made)
    session.add(made)
    return made


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def prepare(config: ModelsConfig) -> None:
    """Set process-wide state the models need: the field key and the file folder."""
    crypto.configure(config.field_key)
    if config.database_url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(config.database_url[len("sqlite:///"):]) or ".", exist_ok=True)


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on foreign keys and WAL for SQLite engines (no effect elsewhere)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)


def get_engine(config: ModelsConfig) -> Engine:
    """One engine per URL and process; forked children get fresh connections."""
    engine = _engines.get(config.database_url)
    if engine is None:
        prepare(config)
        engine = create_engine(config.database_url, **engine_options(config.database_url))
        install_sqlite_pragmas(engine)
        install_idle_ping(engine)
        install_read_only_commit(engine)
        os.register_at_fork(after_in_child=lambda e=engine: e.dispose(close=False))
        _engines[config.database_url] = engine
    return engine


def session_factory(config: ModelsConfig) -> sessionmaker[Session]:
    """A sessionmaker bound to the configured database."""
    return sessionmaker(get_engine(config), expire_on_commit=False)


@contextmanager
def session_scope(config: ModelsConfig | None = None) -> Iterator[Session]:
    """Commit on success, roll back on error, always close: the unit of work of jobs and CLI."""
    session = session_factory(config or ModelsConfig.from_env())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
