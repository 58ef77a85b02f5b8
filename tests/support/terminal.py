"""A command in a pseudo-terminal, as a person runs it in a shell.

util-linux's ``script`` gives the command a pty as its controlling terminal; what the
test writes to ``script``'s stdin is typed on that terminal, so ``\\x03`` is a real
Ctrl-C: the terminal's line discipline sends SIGINT to the foreground process group.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def plain(text: str) -> str:
    """Terminal output without colour and cursor codes, carriage returns as line ends."""
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


class Terminal:
    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], columns: int = 120):
        terminal_env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns),
                        "LINES": "40"}
        self.process = subprocess.Popen(
            ["script", "--quiet", "--return", "--flush", "--command", shlex.join(argv),
             "/dev/null"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=terminal_env,
        )
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            with self._lock:
                self._output.extend(chunk)

    @property
    def text(self) -> str:
        """Everything shown so far, without terminal codes."""
        with self._lock:
            raw = bytes(self._output)
        return plain(raw.decode(errors="replace"))

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of the regular expression ``pattern`` in what was shown."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text)
            if found:
                return found
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared on the terminal; it showed:\n"
                                     f"{self.text[-3000:]}")
            time.sleep(0.05)

    def press_ctrl_c(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"\x03")
        self.process.stdin.flush()

    def wait(self, timeout: float = 30.0) -> int:
        """The command's exit status (``script --return`` passes it on)."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # the command gets SIGHUP when its terminal goes away
            self.process.wait(10)
        self._reader.join(5)  # script has exited: its output pipe is at its end
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
