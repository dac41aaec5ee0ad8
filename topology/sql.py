"""SQL quoting, as the postgresql provider does it (lib/pq QuoteIdentifier)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Always double-quoted, embedded quotes doubled: safe for any name, exact case kept."""
    if "\x00" in name:
        raise ValueError("an identifier cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard-conforming string literal (standard_conforming_strings is on since PostgreSQL 9.1)."""
    if "\x00" in value:
        raise ValueError("a literal cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


def quote_mysql_ident(name: str) -> str:
    """A MySQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def quote_mysql_literal(value: str) -> str:
    """A MySQL string literal for the default sql_mode (backslash escapes on)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
