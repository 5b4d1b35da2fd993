"""Rows of a request log in the order its files hold them, each named by its file and row.

A log read through DuckDB (``read_csv`` / ``read_parquet`` of one file, a list or a glob)
is a view over its files. Row numbers over that view count across every file, so an
error in the second file of a glob said ``line 20701`` of ``*.csv``; read again with
DuckDB's ``filename`` option, each row is numbered inside its own file. Only failure
paths and rare cases (a repeated DST hour) pay for this: it needs insertion order kept.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import ibis
import ibis.expr.types as ir
import pandas as pd
import sqlglot as sg
import sqlglot.expressions as sge

__all__ = ["FILE", "READ", "ROW", "FileRows", "in_file_order", "named_rows", "rows_in_file_order"]

FILE = "_file"  # DuckDB's filename column, named so it cannot meet a column of the log
ROW = "_row"  # a row's position in its file, from 0
READ = "_read"  # a row's position in the whole source, from 0
_GLOB = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class FileRows:
    """A log's table with ``_file`` (each row's file) beside its own columns, and how to name a file."""

    table: ir.Table
    base: str | None  # the folder a glob or a list of files is named from; None for a single file

    def name(self, path: str) -> str | None:
        """The file as the user knows it (relative to the glob's folder); None for a single-file source."""
        return None if self.base is None else os.path.relpath(path, self.base)


def _with_files(table: ir.Table) -> FileRows | None:
    """``table`` read again with each row's file, when it is a DuckDB view over files; else None."""
    try:
        backend = ibis.get_backend(table)
        name = table.op().name
        row = backend.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()
        body = sg.parse_one(row[0], read="duckdb").expression
        reader = body.args["from_"].this.this
        paths = [p.name for p in reader.this.expressions] if isinstance(reader.this, sge.Array) else [reader.this.name]
        if not isinstance(reader, sge.Func) or not paths or not all(paths):
            return None
        reader.append("expressions", sge.EQ(this=sge.column("filename"), expression=sge.Literal.string(FILE)))
        view = f"{name}_files"
        backend.raw_sql(f"CREATE OR REPLACE TEMP VIEW {view} AS {body.sql('duckdb')}")
        with_files = backend.table(view)
    except Exception:  # not a view over files (a table, another backend): rows are numbered across the source
        return None
    if FILE not in with_files.columns or set(with_files.columns) - {FILE} != set(table.columns):
        return None
    several = len(paths) > 1 or any(_GLOB.search(p) for p in paths)
    folders = [os.path.dirname(_GLOB.split(p)[0]) for p in paths]
    return FileRows(with_files, (os.path.commonpath(folders) if len(folders) > 1 else folders[0]) if several else None)


@contextmanager
def in_file_order(table: ir.Table) -> Iterator[None]:
    """Row numbers follow file order on DuckDB only while insertion order is kept: keep it for this block."""
    backend = ibis.get_backend(table)
    if backend.name != "duckdb":
        yield
        return
    kept = backend.raw_sql("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    backend.raw_sql("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        backend.raw_sql(f"SET preserve_insertion_order = {str(kept).lower()}")


def rows_in_file_order(table: ir.Table, where: ir.Value, values: dict[str, ir.Value],
                       limit: int | None = None) -> tuple[ir.Table, FileRows | None]:
    """The rows of ``table`` where ``where`` holds, in file order, as an expression with ``_file`` (the file's
    path, or null when it is not known), ``_row`` (from 0 in its file), ``_read`` (from 0 in the whole
    source) and ``values``; and the files the log was read from (None when rows count across the source).

    ``where`` and ``values`` are expressions on ``table``; run the result inside ``in_file_order``.
    """
    files = _with_files(table)
    source = table
    if files is not None:  # the same expressions, on the same rows read with their file
        swap = {table.op(): files.table.op()}
        where = where.op().replace(swap).to_expr()
        values = {k: v.op().replace(swap).to_expr() for k, v in values.items()}
        source = files.table
    numbered = source.mutate(**{READ: ibis.row_number()}, _where=where, **values)
    if files is not None:
        numbered = numbered.mutate(**{ROW: numbered[READ] - numbered[READ].min().over(group_by=FILE)})
    else:
        numbered = numbered.mutate(**{FILE: ibis.null(str), ROW: numbered[READ]})
    # The order the source reads its files in (a glob: by name), then each file's own order.
    chosen = numbered.filter(numbered["_where"]).order_by(READ).select(FILE, ROW, READ, *values)
    return (chosen.limit(limit) if limit else chosen), files


def named_rows(frame: pd.DataFrame, files: FileRows | None) -> list:
    """Row labels for an error: ``(file, row)`` for a source of several files, else the row."""
    if files is None or files.base is None:
        return frame[ROW].astype(int).tolist()
    return [(files.name(f), int(r)) for f, r in zip(frame[FILE], frame[ROW])]
