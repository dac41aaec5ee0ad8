"""What the program knows of its config beyond the `engarde:` values, and the check it allows: a key of a
namespace one typo away from `engarde` would be silently ignored, so it is refused."""

from __future__ import annotations

from dataclasses import dataclass

from topology.names import ConfigError

NAMESPACE = "engarde"


@dataclass(frozen=True)
class ConfigOrigin:
    """What the program knows of its config beyond the `engarde:` values (the Pulumi SDK's config map and
    secret keys; offline, the stack file)."""

    secret_keys: frozenset[str] = frozenset()
    """`engarde:` keys (namespace stripped) whose value was given as a secret."""
    other_keys: frozenset[str] = frozenset()
    """Keys of every other namespace, namespace included (`docker:host`)."""


def check_other_namespaces(keys: frozenset[str]) -> None:
    """A key whose namespace is one typo away from `engarde` would be silently ignored: refuse it."""
    for full_key in sorted(keys):
        namespace, _, name = full_key.partition(":")
        if _one_edit_apart(namespace, NAMESPACE):
            raise ConfigError(
                name,
                f"namespace {namespace!r} is not {NAMESPACE!r}, so the program would ignore this key: "
                f"did you mean {NAMESPACE}:{name}?",
                namespace=namespace,
            )


def _one_edit_apart(first: str, second: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of two adjacent characters turns one into the other."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        differ = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        return len(differ) == 1 or (
            len(differ) == 2
            and differ[1] == differ[0] + 1
            and first[differ[0]] == second[differ[1]]
            and first[differ[1]] == second[differ[0]]
        )
    shorter, longer = sorted((first, second), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
