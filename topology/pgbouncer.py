"""PgBouncer's configuration for one PostgreSQL server, rendered from the topology.

Session pooling by default; one pool per (database, user), sized by the user's CONNECTION
LIMIT. Clients authenticate with SCRAM against the auth_file, which holds the same SCRAM
verifiers as the server's roles (see `topology.scram`), so no clear-text password is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from topology.model import Pooler, Server

CONFIG_FILE = "/etc/pgbouncer/pgbouncer.ini"
AUTH_FILE = "/etc/pgbouncer/userlist.txt"


SERVER_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
"""CA bundle of the image: `verify-ca` / `verify-full` to a server that names no `sslrootcert`."""


def pooler_service_name(server: str) -> str:
    """The pooler of `server` in the `services` output (its image and files)."""
    return f"pgbouncer-{server}"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def render_ini(pooler: Pooler, server: Server) -> str:
    """pgbouncer.ini: not secret (no password in it)."""
    sizes = [user.pool_size for user in pooler.users]
    lines = [
        f";; PgBouncer in front of the {server.name} server, rendered by the engarde stack.",
        "[databases]",
        # No user= here: the pooler logs in as the client's own role, with the client's SCRAM proof.
        f"{server.database} = host={server.service_host} port={server.service_port} dbname={server.database}",
        "",
        "[users]",
        *(f"{user.role} = pool_mode={user.pool_mode} max_user_connections={user.pool_size}" for user in pooler.users),
        "",
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        f"listen_port = {pooler.port}",
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {AUTH_FILE}",
        "pool_mode = session",
        f"default_pool_size = {max(sizes, default=1)}",
        "reserve_pool_size = 0",
        f"max_db_connections = {sum(sizes)}",
        # Room for clients to wait for their pool; a client waiting longer than this is refused.
        f"max_client_conn = {max(2 * sum(sizes), 10)}",
        f"query_wait_timeout = {pooler.query_wait_timeout}",
        "ignore_startup_parameters = extra_float_digits",
    ]
    if server.sslmode:
        lines.append(f"server_tls_sslmode = {server.sslmode}")
        if server.sslmode.startswith("verify"):
            lines.append(f"server_tls_ca_file = {server.sslrootcert or SERVER_CA_FILE}")
    return "\n".join(lines) + "\n"


def render_auth_file(verifiers: Mapping[str, str]) -> str:
    """userlist.txt: role -> SCRAM verifier (secret: a verifier allows offline guessing)."""
    return "".join(f"{_quoted(role)} {_quoted(verifier)}\n" for role, verifier in sorted(verifiers.items()))
