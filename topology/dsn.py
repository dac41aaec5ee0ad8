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
    more_hosts: tuple[tuple[str, int], ...] = (),
    target_session_attrs: str | None = None,
    load_balance_hosts: str | None = None,
) -> str:
    """A postgresql:// URL; `search_path` goes into the `options` parameter. With `more_hosts`, a
    libpq multi-host URL: `host:port` first, then each of them, tried in order (libpq 10+)."""
    params = []
    if search_path:
        params.append("options=" + _encode("-c search_path=" + ",".join(search_path)))
    if sslmode:
        params.append("sslmode=" + _encode(sslmode))
    if sslrootcert:
        params.append("sslrootcert=" + _encode(sslrootcert))
    if target_session_attrs:
        params.append("target_session_attrs=" + _encode(target_session_attrs))
    if load_balance_hosts:
        params.append("load_balance_hosts=" + _encode(load_balance_hosts))
    query = ("?" + "&".join(params)) if params else ""
    hosts = ",".join(f"{h}:{p}" for h, p in ((host, port), *more_hosts))
    return f"postgresql://{_encode(user)}:{_encode(password)}@{hosts}/{_encode(database)}{query}"


def redis_url(*, password: str, host: str, port: int, database: int = 0) -> str:
    """A redis:// URL authenticating with the default user."""
    return f"redis://:{_encode(password)}@{host}:{port}/{database}"
