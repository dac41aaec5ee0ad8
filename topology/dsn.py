"""Connection URLs that libpq, psycopg, SQLAlchemy and redis clients all accept.

libpq rejects a raw `=` inside a URL parameter value ("extra key/value separator"), so the
`options` value is percent-encoded whole: `-c search_path=a,b` -> `-c%20search_path%3Da%2Cb`.
Credentials are percent-encoded too, so any generated or configured password works.
"""

from __future__ import annotations

from urllib.parse import quote


def _encode(value: str) -> str:
    return quote(value, safe="")


def postgres_url(
    *,
    user: str,
    password: str,
    host: str,
    port: int,
    database: str,
    search_path: tuple[str, ...] = (),
    sslmode: str | None = None,
    sslrootcert: str | None = None,
) -> str:
    """A postgresql:// URL; `search_path` goes into the `options` parameter."""
    params = []
    if search_path:
        params.append("options=" + _encode("-c search_path=" + ",".join(search_path)))
    if sslmode:
        params.append("sslmode=" + _encode(sslmode))
    if sslrootcert:
        params.append("sslrootcert=" + _encode(sslrootcert))
    query = ("?" + "&".join(params)) if params else ""
    return f"postgresql://{_encode(user)}:{_encode(password)}@{host}:{port}/{_encode(database)}{query}"


def redis_url(*, password: str, host: str, port: int, database: int = 0) -> str:
    """A redis:// URL authenticating with the default user."""
    return f"redis://:{_encode(password)}@{host}:{port}/{database}"
