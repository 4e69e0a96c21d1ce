"""Figures as people read them: bytes, durations, counts and rates."""

from __future__ import annotations

__all__ = ["counted", "format_bytes", "format_rate", "format_seconds"]


def format_bytes(size: float) -> str:
    """1536 → '1.5 KB' (powers of 1024, as the rest of pgingest counts them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def format_seconds(seconds: float | None) -> str:
    """75 → '1:15', 3725 → '1:02:05', 4.2 → '4.2s'; None → '-'."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_rate(per_second: float, unit: str) -> str:
    """Rows or bytes per second, compact: '98,431 rows/s', '12.3 MB/s'."""
    if unit == "bytes":
        return f"{format_bytes(per_second)}/s"
    return f"{per_second:,.0f} {unit}/s"


def counted(count: int, noun: str) -> str:
    """1 → '1 file', 2 → '2 files', 12000 → '12,000 files' (nouns that take an s)."""
    return f"{count:,} {noun if count == 1 else noun + 's'}"
