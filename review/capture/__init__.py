"""Capturing the plan: the program run under Pulumi's mocks (`program`), at a git ref (`at_ref`), with
the stack files' config (`config_files`); the captured plan's indexes (`plan`) and its secrets
masked for display (`redact`). Imports nothing else of `review`."""
