"""One resumable result store for experiments and sweeps: append-only JSON Lines.

A store is a directory. ``results.jsonl`` holds one finished record per line, written with a
single ``write`` and ``fsync``, so an interrupt (Ctrl-C, a killed worker, a full machine) loses
at most the unit that was running; a torn last line is skipped on reading and that unit reruns.
``failures.jsonl`` and ``runs.jsonl`` log failures and runs (the sweep runner uses them).

Records are looked up by ``key``: a string that names the unit of work and everything it
depends on (configuration, seed, code version). ``Store.get`` / ``Store.put`` are the
cache protocol the experiments of :mod:`repdyn.proofs.experiments` accept (any object with
these two methods will do), and :class:`repdyn.sweep` cells use the same file.
"""
from __future__ import annotations

import json
import os

try:
    import fcntl
except ImportError:          # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["Store", "load_results"]


class Store:
    """Append-only JSON Lines store in directory ``path`` (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> from repdyn.store import Store
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = Store(d)
    ...     store.put("cell-1", {"result": 1.5})
    ...     store.put("cell-1", {"result": 2.5})            # the last record of a key wins
    ...     got, missing = store.get("cell-1"), store.get("cell-2")
    ...     keys = store.finished_keys()
    ...     store.lock()
    ...     try:
    ...         Store(d).lock()                              # a second writer is refused
    ...     except ValueError as exc:
    ...         refused = str(exc).endswith("another sweep is writing to this store")
    ...     store.close()
    >>> got, missing, keys, refused
    ({'key': 'cell-1', 'result': 2.5}, None, {'cell-1'}, True)
    """

    RESULTS, FAILURES, RUNS, LOCK = "results.jsonl", "failures.jsonl", "runs.jsonl", ".lock"

    def __init__(self, path):
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        self._fds = {}
        self._lock_fd = None

    def lock(self):
        """Take the store's exclusive lock (ValueError if another sweep holds it)."""
        if fcntl is None:
            return
        fd = os.open(os.path.join(self.path, self.LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"--out {self.path}: another sweep is writing to this store") from None
        self._lock_fd = fd

    def close(self):
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}
        if self._lock_fd is not None:
            os.close(self._lock_fd)          # releases the flock
            self._lock_fd = None

    def _fd(self, name):
        if name not in self._fds:
            p = os.path.join(self.path, name)
            fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(fd).st_size
            if size:                          # terminate a torn last line left by a crash
                with open(p, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        os.write(fd, b"\n")
            self._fds[name] = fd
        return self._fds[name]

    def append(self, name, record: dict):
        """Append ``record`` as one line with a single ``write``, then ``fsync``."""
        line = (json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
                + "\n").encode()
        fd = self._fd(name)
        n = os.write(fd, line)
        if n != len(line):                    # regular files: only on a full disk
            raise OSError(f"short write to {name}: {n} of {len(line)} bytes")
        os.fsync(fd)

    def read(self, name) -> list[dict]:
        return _read_jsonl(os.path.join(self.path, name))

    def finished_keys(self) -> set:
        return {r["key"] for r in self.read(self.RESULTS)}

    # --------------------------------------------------------------- cache protocol

    def get(self, key: str):
        """The stored record with ``key`` (the last one written), or None."""
        found = None
        for r in self.read(self.RESULTS):
            if r.get("key") == key:
                found = r
        return found

    def put(self, key: str, record: dict) -> None:
        """Append ``record`` under ``key`` (``record`` must be JSON-serialisable)."""
        self.append(self.RESULTS, {**record, "key": key})


def _read_jsonl(path) -> list[dict]:
    """Records of a JSON Lines file; skips a torn (unparseable) line."""
    out = []
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # torn by a crash mid-write: that cell reruns
                    continue
    except FileNotFoundError:
        pass
    return out


def load_results(path, study: str | None = None) -> list[dict]:
    """Every finished-cell record in store ``path`` (optionally of one study).

    Examples
    --------
    >>> import tempfile
    >>> from repdyn.store import Store, load_results
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = Store(d)
    ...     store.put("a", {"study": "E1", "seed": 0})
    ...     store.put("b", {"study": "runner-check", "seed": 0})
    ...     store.close()
    ...     every, e1 = load_results(d), load_results(d, study="E1")
    >>> len(every), [r["key"] for r in e1]
    (2, ['a'])
    """
    recs = _read_jsonl(os.path.join(os.fspath(path), Store.RESULTS))
    return [r for r in recs if study is None or r.get("study") == study]

