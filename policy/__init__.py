"""EnGarde's CrossGuard policy pack: `pulumi preview --policy-pack policy` (entry point: `__main__.py`)."""
