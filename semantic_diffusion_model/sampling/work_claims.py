"""Claims that let independent jobs share the work of one output folder without doing it twice.

A claim is a hidden file created atomically (``O_CREAT | O_EXCL``): the job that creates it does
the work, the others skip it. It holds the owner's host name, pid, start time and a random token.
The owner refreshes its mtime while it works (a heartbeat thread) and deletes it once the work is
written. A claim is stale, and is taken over, when its owner is gone:
- on this host: its pid is dead (or it is this very process under another token: a run that
  stopped earlier in the same interpreter);
- on any host: no heartbeat for the timeout (a job on another machine cannot be asked whether it
  lives; this also covers a reused pid).

Taking over renames the stale file to a unique name first, so that of two jobs that judge it stale
only one removes it; the one that moved a claim it had not judged (a fresh one made in between)
puts it back.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

from echo_from_noise.staging import pid_alive

HOST = socket.gethostname()
STALE_SUFFIX = ".stale"  # a claim being taken over: <claim>.<hex>.stale


def _read(path: Path) -> dict:
    """A claim's owner ({} while its creator has not written it yet, or when unreadable)."""
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


class Claims:
    """The claims of one process; a claim with no heartbeat for ``timeout_s`` is stale."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.token = uuid.uuid4().hex
        self.started = datetime.datetime.now().isoformat(timespec="seconds")
        self._held: set[Path] = set()
        self._lock = threading.Lock()

    def owner(self) -> dict:
        return {"host": HOST, "pid": os.getpid(), "started": self.started, "token": self.token}

    def is_stale(self, path: Path) -> bool:
        """Whether the claim at ``path`` was left by a job that is gone (False if it is gone)."""
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return False
        owner = _read(path)
        if age > self.timeout_s:
            return True
        if owner.get("host") != HOST or not isinstance(owner.get("pid"), int):
            return False  # another host's, or still being written: only the timeout tells
        if owner["pid"] == os.getpid():
            return owner.get("token") != self.token
        return not pid_alive(owner["pid"])

    def claim(self, path: Path) -> bool:
        """Claim ``path``: True if it is now ours (it was free, or stale and taken over)."""
        for attempt in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if attempt or not self._take_over(path):
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.owner()) + "\n")
            with self._lock:
                self._held.add(path)
            return True
        return False

    def _take_over(self, path: Path) -> bool:
        """Remove ``path`` if it is stale; True if this process removed it."""
        if not self.is_stale(path):
            return False
        judged = _read(path).get("token")
        moved = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{STALE_SUFFIX}")
        try:
            os.rename(path, moved)
        except FileNotFoundError:  # another job took it over first
            return False
        if _read(moved).get("token") != judged:  # a fresh claim made since: put it back
            with contextlib.suppress(OSError):
                os.link(moved, path)
            moved.unlink(missing_ok=True)
            return False
        moved.unlink(missing_ok=True)
        return True

    def release(self, path: Path) -> None:
        """Delete a claim of this process (never another's: a claim taken over is left alone)."""
        with self._lock:
            self._held.discard(path)
        if _read(path).get("token") == self.token:
            path.unlink(missing_ok=True)

    def release_all(self) -> None:
        with self._lock:
            held = list(self._held)
        for path in held:
            self.release(path)

    def remove_stale(self, folder: Path, pattern: str) -> int:
        """Delete the stale claims (and half-taken-over ones) matching ``pattern`` in ``folder``."""
        removed = 0
        for path in [*folder.glob(pattern), *folder.glob(f"{pattern}.*{STALE_SUFFIX}")]:
            if self.is_stale(path):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    @contextlib.contextmanager
    def hold(self, path: Path, poll_s: float = 0.2) -> Iterator[None]:
        """Wait until ``path`` can be claimed (a short critical section), hold it, release it."""
        while not self.claim(path):
            time.sleep(poll_s)
        try:
            yield
        finally:
            self.release(path)

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Refresh the mtime of every held claim while the block runs; release them all after it
        (work left unwritten by an error is then free for other jobs at once)."""
        stop = threading.Event()
        interval = max(0.5, min(60.0, self.timeout_s / 4))
        thread = threading.Thread(target=self._beat, args=(stop, interval), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.release_all()

    def _beat(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            with self._lock:
                held = list(self._held)
            for path in held:
                with contextlib.suppress(OSError):  # being taken over: its new owner decides
                    os.utime(path)
