"""Scratch databases for the benchmarks: new SQLite files in a temporary folder, or new PostgreSQL schemas (each a
URL whose search_path is it); close() removes them all."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from complaints_ledger.adapters.persistence import normalise_url


class SQLiteFiles:
    label = "SQLite"

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="bench-")
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return f"sqlite:///{Path(self.folder.name) / f'run{self.count}.db'}"

    def close(self) -> None:
        self.folder.cleanup()


class PostgresSchemas:
    label = "PostgreSQL"

    def __init__(self, url: str, prefix: str = "bench"):
        self.url = normalise_url(url)
        self.prefix = prefix
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.schemas: list[str] = []

    def fresh(self) -> str:
        schema = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        self.schemas.append(schema)
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options={quote(f'-csearch_path={schema}')}"

    def close(self) -> None:
        with self.admin.connect() as conn:
            for schema in self.schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.admin.dispose()
