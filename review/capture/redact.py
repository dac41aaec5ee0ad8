"""How the review tools hide secrets: one mask, and one masker for captured values and for text.

A secret input or output is masked whole (`Secret` -> `[secret]`); in text (a service's env, where
the whole env is one secret output) every password the run handled is masked where it occurs, so a
DSN still shows its user, host, database and options.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from review.capture.plan import Plan
from review.capture.program import Secret, known_secrets, unwrap_secrets

MASK = "[secret]"
"""What a secret shows as, here as in `pulumi stack output` without `--show-secrets`."""


def masked(value: Any) -> Any:
    """A captured value with every `Secret` replaced by `MASK`."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


class Redactor:
    """Masks secrets for display, unless they are to be shown."""

    def __init__(self, plan: Plan, show_secrets: bool) -> None:
        self.show_secrets = show_secrets
        variants = {form for secret in known_secrets(plan.capture) for form in (secret, quote(secret, safe=""))}
        # Longest first, so a password is masked whole before any secret that is a part of it.
        self._secrets = sorted(variants, key=len, reverse=True)
        self._prefix = min((len(secret) for secret in self._secrets), default=1)
        self._by_prefix: dict[str, list[str]] = {}
        for secret in self._secrets:
            self._by_prefix.setdefault(secret[: self._prefix], []).append(secret)

    def value(self, value: Any) -> Any:
        """A captured value with every `Secret` masked whole (or unwrapped when showing secrets)."""
        return unwrap_secrets(value) if self.show_secrets else masked(value)

    def text(self, text: str) -> str:
        """`text` with each known secret replaced where it occurs (the longest one at each place)."""
        if self.show_secrets or not self._secrets:
            return text
        # One pass over the text, looking up the secrets that start like it at each position:
        # linear in the text, whatever the number of secrets.
        parts: list[str] = []
        start = position = 0
        while position <= len(text) - self._prefix:
            candidates = self._by_prefix.get(text[position : position + self._prefix], ())
            found = next((secret for secret in candidates if text.startswith(secret, position)), None)
            if found is None:
                position += 1
                continue
            parts += [text[start:position], MASK]
            position = start = position + len(found)
        parts.append(text[start:])
        return "".join(parts)
