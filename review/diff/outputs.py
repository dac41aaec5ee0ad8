"""Which stack outputs a change alters, as a reviewer reads them: names, never values.

`pulumi stack output` holds each service's env (connection URLs with their passwords), so a
summary names what changes and never shows a value:

* `services`: the services gained and lost, then per service kept, the env variables it gains,
  loses and whose value changes (`env of backend: DATABASE_URL changes`);
* any other mapping output (`servers`, `connectionBudget`): its keys gained, lost and changed;
* a list output (`accessMatrix`, `logins`, `dsnRoutes`): how many entries it gains and loses
  (entries have no name; one that differs counts as one lost and one gained);
* any other value (`alertRules`): that it changes.

`changed_paths` is the full list, one path per scalar that differs (`services.backend.env.DATABASE_URL`,
`accessMatrix.12.role`): what `--verbose` adds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from review.capture.program import unwrap_secrets
from review.views.sql import output_leaves

SERVICES = "services"


@dataclass(frozen=True)
class OutputChange:
    """One stack output, or one service's env, that differs between the two runs."""

    path: tuple[str, ...]
    """`("accessMatrix",)`, or `("services", NAME, "env")` for one service's env."""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    """Keys of a mapping: gained, lost, present on both sides with another value (sorted)."""
    entries_added: int = 0
    entries_removed: int = 0
    """Entries of a list gained and lost."""

    @property
    def label(self) -> str:
        """`env of backend` for a service's env, else the output's name."""
        if len(self.path) == 3 and self.path[0] == SERVICES and self.path[2] == "env":
            return f"env of {self.path[1]}"
        return ".".join(self.path)

    def parts(self) -> list[str]:
        """`+ a, b`, `- c`, `d changes`, `2 entries added`, ...; `changes` for a value that only changes."""
        parts = []
        if self.added:
            parts.append("+ " + ", ".join(self.added))
        if self.removed:
            parts.append("- " + ", ".join(self.removed))
        if self.changed:
            parts.append(", ".join(self.changed) + (" changes" if len(self.changed) == 1 else " change"))
        if self.entries_added:
            parts.append(f"{self.entries_added} {_entries(self.entries_added)} added")
        if self.entries_removed:
            parts.append(f"{self.entries_removed} {_entries(self.entries_removed)} removed")
        return parts or ["changes"]

    def describe(self) -> str:
        """One line: `services: + billing`, `env of backend: DATABASE_URL changes`."""
        return f"{self.label}: {'; '.join(self.parts())}"

    def document(self) -> dict[str, Any]:
        return {
            "output": ".".join(self.path),
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "entriesAdded": self.entries_added,
            "entriesRemoved": self.entries_removed,
        }


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def output_changes(old_outputs: Mapping[str, Any], new_outputs: Mapping[str, Any]) -> list[OutputChange]:
    """What differs, `services` first (the services, then each one's env), then the other outputs by name."""
    old, new = unwrap_secrets(dict(old_outputs)), unwrap_secrets(dict(new_outputs))
    names = sorted(old.keys() | new.keys(), key=lambda name: (name != SERVICES, name))
    changes: list[OutputChange] = []
    for name in names:
        # An output one side lacks compares as an empty one of the other side's kind.
        before, after = old.get(name, _empty_like(new.get(name))), new.get(name, _empty_like(old.get(name)))
        if before == after:
            continue
        if name == SERVICES and isinstance(before, dict) and isinstance(after, dict):
            changes += _services_changes(before, after)
        else:
            changes.append(_change((name,), before, after))
    return changes


def _empty_like(value: Any) -> Any:
    return type(value)() if isinstance(value, (dict, list)) else None


def _services_changes(old: dict[str, Any], new: dict[str, Any]) -> list[OutputChange]:
    """The services gained and lost (and kept with another non-env value), then each kept one's env."""
    kept = sorted(old.keys() & new.keys())
    otherwise_changed = tuple(name for name in kept if _without_env(old[name]) != _without_env(new[name]))
    listing = OutputChange(
        (SERVICES,),
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        changed=otherwise_changed,
    )
    changes = [listing] if listing.added or listing.removed or listing.changed else []
    for name in kept:
        old_env, new_env = _env(old[name]), _env(new[name])
        if old_env != new_env:
            changes.append(_change((SERVICES, name, "env"), old_env, new_env))
    return changes


def _env(service: Any) -> Any:
    return service.get("env", {}) if isinstance(service, dict) else {}


def _without_env(service: Any) -> Any:
    return {key: value for key, value in service.items() if key != "env"} if isinstance(service, dict) else service


def _change(path: tuple[str, ...], old: Any, new: Any) -> OutputChange:
    if isinstance(old, dict) and isinstance(new, dict):
        return OutputChange(
            path,
            added=tuple(sorted(new.keys() - old.keys())),
            removed=tuple(sorted(old.keys() - new.keys())),
            changed=tuple(sorted(key for key in old.keys() & new.keys() if old[key] != new[key])),
        )
    if isinstance(old, list) and isinstance(new, list):
        before, after = _entry_counts(old), _entry_counts(new)
        return OutputChange(
            path, entries_added=sum((after - before).values()), entries_removed=sum((before - after).values())
        )
    return OutputChange(path)


def _entry_counts(entries: Iterable[Any]) -> Counter[str]:
    """The list as a multiset: order does not matter, a repeated entry counts twice."""
    return Counter(json.dumps(entry, sort_keys=True) for entry in entries)


def changed_paths(old_outputs: Mapping[str, Any], new_outputs: Mapping[str, Any]) -> list[str]:
    """Paths of the output scalars the change adds, removes or alters (`services.backend.env.DATABASE_URL`)."""
    old = dict(output_leaves(unwrap_secrets(dict(old_outputs))))
    new = dict(output_leaves(unwrap_secrets(dict(new_outputs))))
    return [".".join(path) for path in sorted(old.keys() | new.keys()) if old.get(path) != new.get(path)]
