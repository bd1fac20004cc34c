"""Pulling the plug: turns a data directory and a sync journal into what a power failure at
the moment the process died could leave on disk.

The journal comes from tests/powerloss/sync_tracker.cc, preloaded into the process; its header
describes the lines. The model, for a directory the process ran on:

- Data: a file holds what its last completed fsync/fdatasync made durable, nothing written
  after. For a descriptor opened O_APPEND that is the first `size` bytes (the size when the
  sync began). For any other file (SQLite's database, WAL and journal are rewritten in place)
  it is the copy the library took before that sync. A file with no completed sync in the run
  holds what it held when the run began (the baseline copy), or nothing if the run created it.
- Names: creating, making a directory or unlinking is durable only once the parent directory
  has been fsynced after it (started later, by sequence number). A name whose newest change was
  never followed by such a sync reverts: a new file or directory disappears with everything
  under it, and an unlinked file comes back with its last durable content.
- Everything the baseline held and the run did not touch is durable.

This is one of the states a real power failure can leave (the one where no unsynced write
reached the disk), and the strictest for an append-only log. What it does not produce:
unsynced writes that did reach the disk, torn sectors, reordered unsynced writes (covered by
the store's unit tests with MemFs), or a file system that loses synced data. A run that used a
call the model does not follow (rename, O_SYNC, sync(2)...) is refused with ModelError.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

NAME_OPS = ("create", "mkdir", "unlink")


class ModelError(Exception):
    """The journal describes something the model cannot turn into a disk image."""


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str    # sync, dsync, create, mkdir, unlink, unmodeled
    size: int
    snap: str    # "-", "?" or a file name in the snapshot directory
    path: str


@dataclass
class Report:
    """What pull_the_plug did, for assertions and for the test's summary."""

    files: int = 0
    dirs: int = 0
    bytes_kept: int = 0
    bytes_dropped: int = 0
    files_cut: int = 0          # kept, but shorter or older than the process left them
    names_dropped: int = 0      # present when the process died, gone after the power cut
    names_restored: int = 0     # unlinked by the process, back after the power cut
    from_snapshot: int = 0
    approximated: int = 0       # rewritten in place, but no copy: cut to size instead
    syncs: int = 0
    dsyncs: int = 0
    synced_paths: set = field(default_factory=set)
    dropped: list = field(default_factory=list)   # (relative path, why), for failure messages

    def summary(self) -> str:
        why = "; ".join(f"{p}: {w}" for p, w in self.dropped[:5])
        return (f"{self.files} files, {self.bytes_dropped} bytes dropped from {self.files_cut}, "
                f"{self.names_dropped} names dropped{' (' + why + ')' if why else ''}, "
                f"{self.names_restored} restored, {self.from_snapshot} from copies")


def read_journal(path: Path) -> list[Event]:
    """The journal's whole lines, in seq order (a line cut by the kill is ignored)."""
    events = []
    if not path.exists():
        return events
    for line in path.read_text(errors="surrogateescape").split("\n")[:-1]:
        seq, kind, size, snap, p = line.split("\t", 4)
        events.append(Event(int(seq), kind, int(size), snap, p))
    events.sort(key=lambda e: e.seq)
    return events


def tree(root: Path) -> dict[str, bool]:
    """Relative path -> is a directory, for everything under root (root itself is "")."""
    out = {"": True}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        for d in dirnames:
            out[os.path.join(rel, d)] = True
        for f in filenames:
            out[os.path.join(rel, f)] = False
    return out


def parent_of(rel: str) -> str:
    return os.path.dirname(rel)


class _Run:
    """One process run's journal, indexed by path relative to the data directory."""

    def __init__(self, root: Path, events: list[Event], snapshots: Path):
        self.root = root
        self.snapshots = snapshots
        self.by_path: dict[str, list[Event]] = {}
        self.last_dsync: dict[str, int] = {}
        self.dsyncs = 0
        prefix = str(root) + os.sep
        for e in events:
            if e.kind == "unmodeled":
                if e.path == "-" or e.path == str(root) or e.path.startswith(prefix):
                    raise ModelError(f"the process called {e.snap} on {e.path}, which the "
                                     f"power-loss model does not follow (seq {e.seq})")
                continue
            if e.path != str(root) and not e.path.startswith(prefix):
                continue
            rel = os.path.relpath(e.path, root)
            rel = "" if rel == "." else rel
            if e.kind == "dsync":
                self.dsyncs += 1
                self.last_dsync[rel] = max(self.last_dsync.get(rel, -1), e.seq)
            else:
                self.by_path.setdefault(rel, []).append(e)

    def durable_name_op(self, rel: str) -> Event | None:
        """The newest create/mkdir/unlink of rel that a later parent fsync made durable."""
        covered = self.last_dsync.get(parent_of(rel), -1)
        ops = [e for e in self.by_path.get(rel, []) if e.kind in NAME_OPS and e.seq < covered]
        return ops[-1] if ops else None

    def content(self, rel: str, since: int, baseline: Path | None, report: Report) -> bytes:
        """What the inode that rel named after seq `since` durably holds."""
        events = self.by_path.get(rel, [])
        end = next((e for e in events if e.kind == "unlink" and e.seq > since), None)
        until = end.seq if end else float("inf")
        syncs = [e for e in events if e.kind == "sync" and since < e.seq < until]
        if not syncs:
            return baseline.read_bytes() if baseline is not None else b""
        last = syncs[-1]
        if last.snap not in ("-", "?"):
            report.from_snapshot += 1
            return (self.snapshots / last.snap).read_bytes()
        if last.snap == "?":
            report.approximated += 1
        # An append-only inode: its current bytes, cut to the size the sync saw.
        if end is None:
            inode = self.root / rel
        elif end.snap != "-":
            inode = self.snapshots / end.snap
        else:
            raise ModelError(f"{rel} was unlinked without a kept link; cannot restore it")
        with open(inode, "rb") as f:
            return f.read(last.size)


def pull_the_plug(data_dir: Path, baseline: Path, journal: Path, snapshots: Path) -> Report:
    """Replaces data_dir with what a power failure could leave of it (see the module doc).

    baseline: a copy of data_dir taken before the process started; journal and snapshots: what
    sync_tracker wrote during the run. The process must be dead.
    """
    root = Path(os.path.realpath(data_dir))
    run = _Run(root, read_journal(journal), snapshots)
    report = Report()
    for events in run.by_path.values():
        for e in events:
            if e.kind == "sync":
                report.syncs += 1
                report.synced_paths.add(e.path)
    report.dsyncs = run.dsyncs
    before = tree(baseline)
    now = tree(root)
    created = {rel for rel, evs in run.by_path.items()
               if any(e.kind in ("create", "mkdir") for e in evs)}
    for rel in now:
        if rel not in before and rel not in created:
            raise ModelError(f"{rel} appeared in the run without a create or mkdir the library "
                             f"saw; the model cannot tell when its name became durable")

    image = root.with_name(root.name + ".power-loss")
    shutil.rmtree(image, ignore_errors=True)
    kept: set[str] = set()
    # Sorted, so a directory is settled before anything in it.
    for rel in sorted(set(before) | set(now) | set(run.by_path), key=lambda r: r.count(os.sep)
                      if r else -1):
        if rel and parent_of(rel) not in kept:
            if rel in now:
                report.names_dropped += 1
                report.dropped.append((rel, "its directory is gone"))
            continue
        op = run.durable_name_op(rel) if rel else None
        exists = (op.kind != "unlink") if op else rel in before
        if not exists:
            if rel in now:
                report.names_dropped += 1
                made = [e for e in run.by_path[rel] if e.kind in ("create", "mkdir")][-1]
                report.dropped.append((rel, f"{made.kind} at seq {made.seq}, no fsync of "
                                            f"{parent_of(rel) or '.'} after it"))
            continue
        is_dir = op.kind == "mkdir" if op else before[rel]
        report.names_restored += rel not in now
        kept.add(rel)
        if is_dir:
            (image / rel).mkdir(parents=True, exist_ok=True)
            report.dirs += 1
            continue
        since = op.seq if op else -1
        data = run.content(rel, since, baseline / rel if op is None else None, report)
        (image / rel).write_bytes(data)
        report.files += 1
        report.bytes_kept += len(data)
        left = (root / rel).read_bytes() if rel in now and not now[rel] else None
        if left is not None and left != data:
            report.files_cut += 1
            report.bytes_dropped += max(0, len(left) - len(data))

    shutil.rmtree(root)
    os.rename(image, root)
    return report
