"""When a file that landed is complete: it appeared by rename, or it stopped changing.

A producer publishes a file either by writing it elsewhere and renaming it into
place (the file is whole the moment its name appears), or by writing it where it
lies. The tracker tells them apart from the file system's events: a rename shows
as an ``added`` event with no ``modified`` after it, while writing in place
always modifies the file (every write(2) raises IN_MODIFY on Linux). A file
written in place, or one seen only by listing (remote objects, the safety-net
listing), is taken once its size and modification time have not changed for
``settle`` seconds. A file taken once is taken again only when its size or
modification time changes (the manifest then applies the source's ``on_change``).

The tracker is plain data and arithmetic over a clock the caller passes in, so
tests drive it without waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["RENAME_QUIET_SECONDS", "FileSignature", "SettleTracker"]

# A renamed file is taken after this long without a ``modified`` event or a change of
# size and mtime. The event of a write is queued by the kernel before the write returns,
# so it reaches the watch within milliseconds; this covers a loaded machine's delay in
# delivering it, so a file created and then written is never mistaken for a renamed one.
RENAME_QUIET_SECONDS = 0.15


@dataclass(frozen=True)
class FileSignature:
    """What says a file changed: its size and modification time (ns)."""

    size: int
    modified_ns: int


@dataclass
class _Seen:
    """One file's state: its last signature, since when it is unchanged, and how it came."""

    signature: FileSignature
    stable_since: float  # monotonic seconds
    is_renamed: bool = False  # appeared by rename: whole at once
    taken: FileSignature | None = None  # the signature last handed to a load


@dataclass
class SettleTracker:
    """The files of one watch, and which of them are complete and not yet taken."""

    settle_seconds: float
    _files: dict[str, _Seen] = field(default_factory=dict)

    def observe(
        self, path: str, signature: FileSignature, *, now: float, age_seconds: float = 0.0
    ) -> None:
        """A listing found ``path`` with ``signature``; ``age_seconds``: since its last change.

        A file already unchanged for longer than ``settle`` when first seen (one that
        waited while the service was down) needs no second look.
        """
        seen = self._files.get(path)
        if seen is None:
            backdate = min(max(age_seconds, 0.0), self.settle_seconds)
            self._files[path] = _Seen(signature, stable_since=now - backdate)
        elif seen.signature != signature:
            seen.signature = signature
            seen.stable_since = now
            seen.is_renamed = False

    def note_added(self, path: str, signature: FileSignature | None, *, now: float) -> None:
        """An ``added`` event: the file appeared (by rename, or created to be written)."""
        if signature is None:
            return
        seen = self._files.get(path)
        if seen is None or seen.signature != signature or seen.taken is not None:
            taken = seen.taken if seen is not None else None
            self._files[path] = _Seen(signature, stable_since=now, is_renamed=True, taken=taken)
        # An empty file is one created to be written, not one renamed into place whole.
        self._files[path].is_renamed = signature.size > 0

    def note_modified(self, path: str, *, now: float) -> None:
        """A ``modified`` event: someone is writing; only the settle time can tell the end."""
        seen = self._files.get(path)
        if seen is not None:
            seen.is_renamed = False
            seen.stable_since = now

    def forget(self, path: str) -> None:
        """The file is gone (deleted or renamed away)."""
        self._files.pop(path, None)

    def forget_missing(self, present: Iterable[str], *, among: Iterable[str]) -> None:
        """Of the paths ``among`` (one source's listing), forget those no longer present."""
        keep = set(present)
        for path in [p for p in among if p not in keep]:
            self.forget(path)

    def known(self) -> set[str]:
        """Every path tracked."""
        return set(self._files)

    def _is_ready(self, seen: _Seen, now: float) -> bool:
        if seen.taken == seen.signature:
            return False
        quiet = RENAME_QUIET_SECONDS if seen.is_renamed else self.settle_seconds
        return now - seen.stable_since >= quiet

    def ready(self, *, now: float) -> list[str]:
        """The complete files not yet taken in their present state, sorted."""
        return sorted(path for path, seen in self._files.items() if self._is_ready(seen, now))

    def pending(self) -> int:
        """Files seen but not yet complete (or not yet taken)."""
        return sum(1 for seen in self._files.values() if seen.taken != seen.signature)

    def next_ready_in(self, *, now: float) -> float | None:
        """Seconds until the next file still settling could be complete; None when none is.

        Files complete already do not count: they are loaded now, or (while the
        database is away) at the next try, not in a busy loop.
        """
        waits = [
            wait
            for seen in self._files.values()
            if seen.taken != seen.signature
            and (
                wait := (RENAME_QUIET_SECONDS if seen.is_renamed else self.settle_seconds)
                - (now - seen.stable_since)
            )
            > 0
        ]
        return min(waits, default=None)

    def is_pending(self, path: str) -> bool:
        """Whether ``path`` is tracked and not taken in its present state."""
        seen = self._files.get(path)
        return seen is not None and seen.taken != seen.signature

    def signature_of(self, path: str) -> FileSignature | None:
        """The signature last seen for ``path``."""
        seen = self._files.get(path)
        return seen.signature if seen is not None else None

    def mark_taken(self, path: str, signature: FileSignature) -> None:
        """``path`` was handed to a load in this state; taken again only once it changes."""
        seen = self._files.get(path)
        if seen is not None:
            seen.taken = signature
