"""SCRAM-SHA-256 verifiers: the RFC 7677 exchange checks out against the keys the stack stores."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from topology.scram import scram_verifier

# RFC 7677, section 3: user "user", password "pencil".
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_exchange_verifies_against_the_stored_and_server_keys() -> None:
    verifier = scram_verifier("pencil", SALT)
    assert verifier.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    stored_key, server_key = (base64.b64decode(k) for k in verifier.rsplit("$", 1)[1].split(":"))
    signature = hmac.new(server_key, AUTH_MESSAGE, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == SERVER_SIGNATURE
    # The server's check of the client's proof: H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey.
    client_signature = hmac.new(stored_key, AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(base64.b64decode(CLIENT_PROOF), client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


@pytest.mark.parametrize(("password", "salt"), [("pässword", SALT), ("", SALT), ("pencil", b"short")])
def test_passwords_the_server_would_normalize_and_short_salts_are_refused(password: str, salt: bytes) -> None:
    with pytest.raises(ValueError):
        scram_verifier(password, salt)
