"""When a landed file is complete: the settle rules on a fake clock (no waiting)."""

from __future__ import annotations

import pytest

from pgingest.watch.settle import RENAME_QUIET_SECONDS, FileSignature, SettleTracker

SETTLE = 1.0


def test_a_file_written_in_place_waits_until_unchanged_for_settle() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(10, 1), now=0.0)
    tracker.note_modified("/d/a.csv", now=0.0)
    assert tracker.ready(now=0.5) == []
    tracker.observe("/d/a.csv", FileSignature(20, 2), now=0.5)  # still growing
    assert tracker.ready(now=1.25) == []
    assert tracker.ready(now=1.5) == ["/d/a.csv"]


def test_a_modified_event_restarts_the_wait_even_when_the_listing_saw_no_change() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(10, 1), now=0.0)
    tracker.note_modified("/d/a.csv", now=0.8)
    assert tracker.ready(now=1.2) == []
    assert tracker.ready(now=1.8) == ["/d/a.csv"]


def test_a_renamed_file_is_taken_without_the_settle_wait() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(10, 1), now=0.0)
    tracker.note_added("/d/a.csv", FileSignature(10, 1), now=0.0)
    assert tracker.ready(now=RENAME_QUIET_SECONDS / 2) == []
    assert tracker.ready(now=RENAME_QUIET_SECONDS) == ["/d/a.csv"]


def test_a_created_file_that_is_then_written_is_not_taken_as_renamed() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(0, 1), now=0.0)
    tracker.note_added("/d/a.csv", FileSignature(0, 1), now=0.0)  # empty: created to be written
    assert tracker.ready(now=0.5) == []
    tracker.note_added("/d/b.csv", FileSignature(5, 1), now=0.0)
    tracker.note_modified("/d/b.csv", now=0.05)  # the write's event came after the creation's
    tracker.observe("/d/b.csv", FileSignature(5, 1), now=0.1)
    assert tracker.ready(now=0.5) == []
    assert tracker.ready(now=1.1) == ["/d/a.csv", "/d/b.csv"]


def test_a_file_unchanged_since_before_the_watch_started_is_taken_at_once() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/old.csv", FileSignature(10, 1), now=100.0, age_seconds=3600)
    tracker.observe("/d/new.csv", FileSignature(10, 1), now=100.0, age_seconds=0.2)
    assert tracker.ready(now=100.0) == ["/d/old.csv"]
    assert tracker.next_ready_in(now=100.0) == pytest.approx(0.8)  # the new one; not the old
    assert tracker.ready(now=101.0) == ["/d/new.csv", "/d/old.csv"]


def test_a_taken_file_comes_back_only_when_it_changes() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(10, 1), now=0.0, age_seconds=5)
    tracker.mark_taken("/d/a.csv", FileSignature(10, 1))
    assert tracker.ready(now=10.0) == []
    assert tracker.pending() == 0
    assert tracker.next_ready_in(now=10.0) is None
    tracker.observe("/d/a.csv", FileSignature(12, 2), now=10.0)
    assert tracker.ready(now=10.5) == []
    assert tracker.ready(now=11.0) == ["/d/a.csv"]


def test_a_deleted_file_is_forgotten() -> None:
    tracker = SettleTracker(SETTLE)
    tracker.observe("/d/a.csv", FileSignature(10, 1), now=0.0)
    tracker.observe("/d/b.csv", FileSignature(10, 1), now=0.0)
    tracker.forget_missing(["/d/b.csv"], among=["/d/a.csv", "/d/b.csv"])
    assert tracker.known() == {"/d/b.csv"}
