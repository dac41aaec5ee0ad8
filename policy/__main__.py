"""The policy pack's entry point: the Pulumi CLI runs this file for `--policy-pack policy`."""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file by path from inside policy/, not as a package: make `policy` importable.
if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.crossguard import PACK_NAME, policies, track_request_secrets, track_stack_name


def main() -> None:
    """Serve the pack to the engine (PolicyPack blocks, answering the engine's requests)."""
    # Without the hook, the credential policy fails closed on containers with credentials (see crossguard.py).
    track_request_secrets()
    track_stack_name()
    PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=EnforcementLevel.MANDATORY)


if __name__ == "__main__":
    main()
