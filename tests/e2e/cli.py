"""The Pulumi CLI as an engineer runs it: a process of its own, its text output, its exit code.

The Automation API (tests/e2e/engine.py) cannot kill an `up` halfway, run two at once, or pass `refresh`'s
pending-create flags; these helpers run the same CLI, in the stack's program directory with the stack's
environment. Nothing here prints that environment (it holds the stack's passphrase and backend keys).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.engine import EngineStack, bin_dir

LOCKED = "the stack is currently locked by 1 lock(s)"
"""The DIY backends' refusal (pkg/backend/diy/lock.go), followed by the lock's URL, user, host and pid."""


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str
    """stdout and stderr, interleaved as the CLI wrote them."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def lines_with(self, text: str) -> list[str]:
        return [line.strip() for line in self.output.splitlines() if text in line]


def command(engine: EngineStack, *args: str) -> list[str]:
    return [str(bin_dir() / "pulumi"), *args, "--stack", engine.name, "--non-interactive", "--color", "never"]


def environment(engine: EngineStack, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **engine.env, **(extra or {})}


def run(engine: EngineStack, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
    completed = subprocess.run(
        command(engine, *args), cwd=engine.program_dir, env=environment(engine, env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )  # fmt: skip
    return CliResult(completed.returncode, completed.stdout)


@dataclass(frozen=True)
class Process:
    """A process as /proc shows it: its start time tells it from a later process given the same pid."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> Process | None:
        fields = _stat(pid)
        return None if fields is None else cls(pid, int(fields[19]))

    def alive(self) -> bool:
        fields = _stat(self.pid)
        return fields is not None and int(fields[19]) == self.started and fields[0] != "Z"

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the field after the command name on (state, ppid, ..., starttime at 19)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[Process]:
    """Every process below `pid`, children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[Process] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(0), []):
            process = Process.of(child)
            if process is not None:
                found.append(process)
                pending.append(child)
    return found


class RunningCli:
    """A CLI command started in the background, its output going to `log`."""

    def __init__(self, engine: EngineStack, args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                command(engine, *args), cwd=engine.program_dir, env=environment(engine, env),
                stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip

    def result(self, timeout: float = 600) -> CliResult:
        returncode = self.process.wait(timeout=timeout)
        return CliResult(returncode, self.log.read_text())

    def kill_cli_only(self) -> list[Process]:
        """SIGKILL the CLI process alone, as the OOM killer or a `kill -9 <pid>` would; returns what it had
        started (language host, program, plugins), which it runs in process groups of their own and which
        therefore live on, finishing the calls they were making."""
        left = descendants(self.process.pid)
        self.process.kill()
        self.process.wait()
        return left


def kill_all(processes: Sequence[Process]) -> None:
    for process in processes:
        process.kill()
    deadline = time.monotonic() + 10
    while any(process.alive() for process in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
