"""SCRAM-SHA-256 verifiers (RFC 5802 / RFC 7677), in the form PostgreSQL stores in `pg_authid`.

PostgreSQL accepts such a verifier as a role's password (`PASSWORD 'SCRAM-SHA-256$...'` is stored
as given), and PgBouncer accepts the same string in its auth_file: it checks a client's SCRAM
proof against it and, because the verifier is identical on both sides (same salt and iterations),
reuses the client's proof to log in to the server. Neither file nor catalog holds the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SALT_BYTES = 18
"""A derived salt's length (PostgreSQL makes 16-byte salts; the verifier accepts any of 16 or more)."""
SCRAM_ITERATIONS = 4096
"""PostgreSQL's default (`scram_iterations` cannot be changed before PostgreSQL 16)."""


def derived_salt(key: bytes, role: str, password: str) -> bytes:
    """A role's salt: HMAC-SHA256 of its name and password under a server's secret key. Stable from one update to
    the next, new when the password is; it tells nothing of the password without the key, which the stack keeps
    in its state (one generated key per server instead of a generated salt per role)."""
    return hmac.new(key, f"{role}\0{password}".encode(), hashlib.sha256).digest()[:SALT_BYTES]


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`.

    PostgreSQL normalizes passwords with SASLprep, which leaves printable ASCII unchanged; other
    passwords are refused here rather than hashed differently from the server.
    """
    if not password or not all(" " <= c <= "~" for c in password):
        raise ValueError("a SCRAM verifier is computed for non-empty printable ASCII passwords only")
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 bytes")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def is_verifier_of(verifier: str, password: str) -> bool:
    """Whether `verifier` (a role's stored SCRAM secret) was computed from `password`."""
    iterations, salt = verifier.split("$")[1].split(":")
    return scram_verifier(password, base64.b64decode(salt), int(iterations)) == verifier
