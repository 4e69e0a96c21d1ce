"""Remote objects and zip members as local files: listed through fsspec, fetched once.

A unit opens its file several times (the header, the rows, the lines of
rejects) and the manifest hashes it first, so a file that is not a plain local
one — an object in S3 (``s3://``, s3fs) or GCS (``gs://``, gcsfs), a web
resource (``http(s)://``), or a member of a zip archive — is copied once to a
local temporary file and read from there. The copy holds the bytes as stored
(a ``.csv.gz`` stays compressed), so the fingerprint is that of the object.
Fetches retry transient failures under the file retry policy; errors are
translated here, by type, into SourceError.

Copies live in one temporary folder per process (``pgingest-fetched-<pid>-*``),
removed when it exits; the folders of processes that died without removing
theirs (a kill) are removed when the next one is made. Past
``COPY_BUDGET_BYTES`` the least recently used copies are removed (a later read
fetches again, and fails if the object changed meanwhile). A file's manifest
identity stays its URL (``s3://bucket/key``) or ``archive.zip!/member``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import errno
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pgingest.config import Limits, RetryPolicy, RetrySettings
from pgingest.decompression import LIMITS_HINT, check_compression_ratio
from pgingest.errors import ConfigError, SourceError
from pgingest.retry import Retrier, failure_kind

__all__ = [
    "MEMBER_SEPARATOR",
    "Origin",
    "RemoteEntry",
    "is_remote",
    "list_members",
    "list_remote",
    "local_copy",
    "local_copy_of",
    "member_path",
    "register_origin",
    "temporary_folder",
]

logger = logging.getLogger(__name__)

# Between an archive's path and a member's name, as Java's jar: URLs write it;
# "!/" cannot end a file name, so the manifest path reads unambiguously.
MEMBER_SEPARATOR = "!/"

# Local copies kept at once: enough for the files a run's workers have open,
# small enough for a laptop's temporary folder. A larger file is still fetched.
COPY_BUDGET_BYTES = 4 << 30

# Zip archives kept open for the extraction of their members; each holds a file open.
OPEN_ARCHIVES = 8

# Read in pieces this large when extracting a zip member.
COPY_BUFFER_BYTES = 1 << 20

# A temporary folder of pgingest's: the pid of the process that made it, then mkdtemp's name.
_FOLDER_PREFIX = "pgingest-fetched-"
_FOLDER_PID = re.compile(r"^pgingest-fetched-(\d+)-")

# Members that archivers add and that are never data.
_ARCHIVE_NOISE = ("__MACOSX/", ".DS_Store")


@dataclass(frozen=True)
class RemoteEntry:
    """An object a remote pattern matched, as its store lists it."""

    url: str
    size: int
    modified_ns: int
    version: str | None  # ETag, generation or the like: a changed object has another


@dataclass(frozen=True)
class Origin:
    """Where a non-local file's bytes come from, and how to fetch them again."""

    location: str  # a URL, or the local path of an archive
    member: str | None = None  # the zip member, when the file is one
    version: str | None = None  # the store's version (ETag ...) of the object or archive
    size: int | None = None  # of the object (a member's size is checked by zipfile)
    modified_ns: int = 0  # with version, tells one listing's object from a later one's
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: Limits = field(default_factory=Limits, compare=False)  # a zip member's bounds
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def path(self) -> str:
        """The file's identity in the manifest, messages and rejects."""
        if self.member is None:
            return self.location
        return member_path(self.location, self.member)


def member_path(archive: str, member: str) -> str:
    """How pgingest names a member of an archive: ``data.zip!/2024/a.csv``."""
    return f"{archive}{MEMBER_SEPARATOR}{member}"


def is_remote(path: str) -> bool:
    """Whether a path or pattern is a URL that fsspec must read (not a local path)."""
    scheme, separator, _ = path.partition("://")
    return bool(separator) and scheme.lower() not in ("", "file") and scheme.isidentifier()


# --- errors ---------------------------------------------------------------------------


def _transient_types() -> tuple[type[BaseException], ...]:
    """Network errors of the fsspec back ends that a second try may cure."""
    found: list[type[BaseException]] = []
    try:
        import aiohttp  # noqa: PLC0415 - installed with s3fs, gcsfs and fsspec[http]

        found += [aiohttp.ClientConnectionError, aiohttp.ClientPayloadError]
    except ImportError:  # pragma: no cover - a back end without aiohttp
        pass
    try:
        import botocore.exceptions  # noqa: PLC0415 - installed with s3fs

        found += [
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ResponseStreamingError,
        ]
    except ImportError:  # pragma: no cover - s3fs is not installed
        pass
    try:
        from fsspec.exceptions import FSTimeoutError  # noqa: PLC0415

        found.append(FSTimeoutError)
    except ImportError:  # pragma: no cover - fsspec is a dependency
        pass
    return tuple(found)


_TRANSIENT_TYPES: tuple[type[BaseException], ...] | None = None
# A remote store answering 5xx or "slow down" (s3fs: EREMOTEIO, EBUSY) may answer next time.
_TRANSIENT_REMOTE_ERRNOS = {getattr(errno, "EREMOTEIO", errno.EIO), errno.EBUSY}
# HTTP statuses worth a retry: too many requests, and the server-side failures.
_TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}


def _is_transient(exc: BaseException) -> bool:
    global _TRANSIENT_TYPES  # noqa: PLW0603 - computed once, on the first failure
    if _TRANSIENT_TYPES is None:
        _TRANSIENT_TYPES = _transient_types()
    if failure_kind(exc) == "file" or isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_REMOTE_ERRNOS:
        return True
    status = getattr(exc, "status", None)  # aiohttp.ClientResponseError (http, gcsfs)
    return isinstance(status, int) and status in _TRANSIENT_STATUSES


def _remote_error(exc: BaseException, url: str, action: str) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return SourceError("not found in the object store", path=url)
    if isinstance(exc, PermissionError):
        return SourceError(
            f"access denied while trying to {action} it",
            hint="check the credentials (environment variables, config files, or the "
            "source's storage_options)",
            path=url,
        )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SourceError(f"cannot {action} it: {text}", path=url, is_transient=_is_transient(exc))


def _filesystem(url: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec file system of a URL (credentials from the environment unless given)."""
    import fsspec.core  # noqa: PLC0415 - fsspec loads its back ends lazily; so does pgingest

    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options))
    except ImportError as exc:
        scheme = url.partition("://")[0]
        package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}.get(scheme, "")
        raise ConfigError(
            f"cannot read {scheme}:// paths: {exc}",
            hint=f"install {package}" if package else "install the fsspec back end for it",
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"cannot read {url}: {exc}") from exc
    return fs, str(path)


# --- listing --------------------------------------------------------------------------


def _modified_ns(info: Mapping[str, Any]) -> int | None:
    for key in ("LastModified", "updated", "mtime", "last_modified", "Last-Modified"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return int(stamp.timestamp() * 1e9)
        if isinstance(value, (int, float)):
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            stamp = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
            return int(stamp.timestamp() * 1e9)
    return None


def _version(info: Mapping[str, Any]) -> str | None:
    for key in ("ETag", "etag", "generation", "md5Hash", "VersionId"):
        value = info.get(key)
        if value:
            return str(value)
    return None


def _entry(fs: Any, path: str, info: Mapping[str, Any]) -> RemoteEntry:
    size = info.get("size")
    modified = _modified_ns(info)
    # Without a modification time, the discovery time makes the manifest hash the
    # object every run rather than trust a size that may not have changed.
    return RemoteEntry(
        url=fs.unstrip_protocol(path) if "://" not in path else path,
        size=int(size) if isinstance(size, int) else 0,
        modified_ns=modified if modified is not None else time.time_ns(),
        version=_version(info),
    )


def list_remote(
    pattern: str, *, storage_options: Mapping[str, Any], retry: RetryPolicy
) -> list[RemoteEntry]:
    """The objects a remote pattern matches (``*``, ``**``, ``?``, ``[...]`` over a prefix)."""
    fs, path = _filesystem(pattern, storage_options)
    has_magic = any(c in path for c in "*?[")
    is_http = "http" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    if has_magic and is_http:
        raise ConfigError(
            f"web addresses cannot be globbed: {pattern}",
            hint="list each URL in paths, or use an object store (s3://, gs://)",
        )

    def listing() -> list[RemoteEntry]:
        # fsspec caches listings in its (shared) file system objects: a new run must see
        # the objects added since the last one.
        fs.invalidate_cache()
        try:
            if has_magic:
                found = fs.glob(path, detail=True)
                return [
                    _entry(fs, name, info)
                    for name, info in sorted(found.items())
                    if info.get("type", "file") != "directory"
                ]
            info = fs.info(path)
        except FileNotFoundError:
            return []
        except Exception as exc:  # fsspec back ends raise many types; translated by type
            raise _remote_error(exc, pattern, "list") from exc
        if info.get("type", "file") == "directory":
            raise SourceError(
                "is a folder (a prefix), not a file",
                hint="use a pattern such as prefix/*.csv or prefix/**/*.csv",
                path=pattern,
            )
        return [_entry(fs, path, info)]

    return _retrier(retry).call(listing, what=f"listing {pattern}")


def list_members(
    archive: str, local: str, *, limits: Limits | None = None
) -> list[zipfile.ZipInfo]:
    """The files in a zip archive (folders and archiver litter left out); max_zip_members."""
    limit = (limits or Limits()).max_zip_members
    try:
        with zipfile.ZipFile(local) as opened:
            members = opened.infolist()
    except zipfile.BadZipFile as exc:
        raise SourceError(f"not a readable zip archive: {exc}", path=archive) from exc
    except OSError as exc:
        raise SourceError(f"cannot read zip archive: {exc.strerror or exc}", path=archive) from exc
    if len(members) > limit:
        raise SourceError(
            f"the zip archive has {len(members):,} members, more than max_zip_members ({limit:,})",
            hint=LIMITS_HINT.format("max_zip_members"),
            path=archive,
        )
    return [
        m
        for m in members
        if not m.is_dir()
        and not any(noise in m.filename for noise in _ARCHIVE_NOISE)
        and not os.path.basename(m.filename).startswith("._")
    ]


# --- local copies ---------------------------------------------------------------------


def _retrier(policy: RetryPolicy) -> Retrier:
    return Retrier(RetrySettings(file=policy))


# A copy is of one version of one object: a later run that lists a changed
# object fetches it again, even in the same process.
_Key = tuple[str, str | None, str | None, int]


class _OpenArchives:
    """Zip archives kept open between the extractions of their members.

    Opening an archive reads its whole central directory: opened once per member,
    a 10,000-member archive took 15 minutes (issue 17). An archive is known by its
    path, size and modification time, so a changed one is opened again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[tuple[str, int, int], tuple[zipfile.ZipFile, threading.Lock]] = (
            OrderedDict()
        )

    @contextlib.contextmanager
    def opened(self, path: str) -> Iterator[zipfile.ZipFile]:
        info = os.stat(path)
        key = (path, info.st_size, info.st_mtime_ns)
        with self._lock:
            found = self._open.get(key)
            if found is None:
                found = (zipfile.ZipFile(path), threading.Lock())
                self._open[key] = found
                while len(self._open) > OPEN_ARCHIVES:
                    _, (oldest, oldest_lock) = self._open.popitem(last=False)
                    with oldest_lock:
                        oldest.close()
            self._open.move_to_end(key)
        archive, lock = found
        with lock:  # one member at a time from one archive
            yield archive


class _Copies:
    """Local copies of non-local files, fetched once each, least recently used removed first."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._key_locks: dict[_Key, threading.Lock] = {}
        self._copies: OrderedDict[_Key, tuple[str, int]] = OrderedDict()
        self._total = 0  # bytes of the copies kept
        self._origins: dict[str, Origin] = {}
        self._folder: str | None = None
        self._counter = 0
        self._archives = _OpenArchives()

    def register(self, origin: Origin) -> None:
        with self._lock:
            self._origins[origin.path] = origin

    def origin_of(self, path: str) -> Origin | None:
        with self._lock:
            return self._origins.get(path)

    def folder(self) -> str:
        with self._lock:
            if self._folder is None:
                remove_dead_folders()
                self._folder = tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-")
                atexit.register(shutil.rmtree, self._folder, True)
            return self._folder

    def _target(self, name: str) -> str:
        folder = self.folder()
        with self._lock:
            self._counter += 1
            return os.path.join(folder, f"{self._counter:06d}-{os.path.basename(name)}")

    def path_of(self, origin: Origin) -> str:
        key = (origin.location, origin.member, origin.version, origin.modified_ns)
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                found = self._copies.get(key)
                if found is not None and os.path.exists(found[0]):
                    self._copies.move_to_end(key)
                    return found[0]
            local = self._make(origin)
            with self._lock:
                replaced = self._copies.pop(key, None)
                size = os.path.getsize(local)
                self._total += size - (replaced[1] if replaced else 0)
                self._copies[key] = (local, size)
                self._evict(keep=key)
            return local

    def _make(self, origin: Origin) -> str:
        if origin.member is None:
            return self._fetch(origin)
        archive = origin.location
        if is_remote(archive):
            container = Origin(
                archive,
                version=origin.version,
                modified_ns=origin.modified_ns,
                retry=origin.retry,
                storage_options=origin.storage_options,
            )
            archive = self.path_of(container)
        return self._extract(origin, archive)

    def _fetch(self, origin: Origin) -> str:
        url = origin.location
        fs, path = _filesystem(url, origin.storage_options)
        target = self._target(path)

        def fetch() -> str:
            try:
                if origin.version is not None:
                    _check_unchanged(fs, path, origin)
                fs.get_file(path, target)
            except Exception as exc:  # fsspec back ends raise many types; translated by type
                _remove(target)
                raise _remote_error(exc, url, "fetch") from exc
            fetched = os.path.getsize(target)
            if origin.size and fetched != origin.size:
                _remove(target)
                raise SourceError(
                    f"fetched {fetched:,} bytes, but the store listed {origin.size:,}",
                    path=url,
                    is_transient=True,
                )
            return target

        logger.debug("fetching %s", url)
        return _retrier(origin.retry).call(fetch, what=f"fetching {url}")

    def _extract(self, origin: Origin, archive: str) -> str:
        assert origin.member is not None
        target = self._target(origin.member)
        try:
            with self._archives.opened(archive) as opened:
                info = opened.getinfo(origin.member)
                # zipfile stops at the declared size, so the declared sizes bound the copy.
                check_compression_ratio(
                    info.file_size, info.compress_size, origin.limits, path=origin.path
                )
                with opened.open(info) as source, open(target, "wb") as copy:
                    shutil.copyfileobj(source, copy, COPY_BUFFER_BYTES)
        except KeyError as exc:
            _remove(target)
            raise SourceError("the member is no longer in the archive", path=origin.path) from exc
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown method.
            _remove(target)
            raise SourceError(
                f"cannot extract from the zip archive: {exc}", path=origin.path
            ) from exc
        except OSError as exc:
            _remove(target)
            raise SourceError(
                f"cannot extract from the zip archive: {exc.strerror or exc}",
                path=origin.path,
                is_transient=failure_kind(exc) == "file",
            ) from exc
        return target

    def _evict(self, *, keep: _Key) -> None:
        if self._total <= self._budget:
            return
        for key in list(self._copies):
            if self._total <= self._budget:
                break
            if key == keep:
                continue
            local, size = self._copies.pop(key)
            _remove(local)  # a reader holding it open keeps reading (POSIX)
            self._total -= size


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_dead_folders() -> None:
    """Remove the temporary folders of pgingest processes that no longer run (killed ones)."""
    root = tempfile.gettempdir()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        found = _FOLDER_PID.match(entry.name)
        if found is None or not entry.is_dir(follow_symlinks=False):
            continue
        pid = int(found.group(1))
        if pid != os.getpid() and not _is_alive(pid):
            logger.debug("removing %s, left by a pgingest process that ended", entry.path)
            shutil.rmtree(entry.path, ignore_errors=True)


def _check_unchanged(fs: Any, path: str, origin: Origin) -> None:
    info = fs.info(path)
    if _version(info) != origin.version:
        raise SourceError(
            "the object changed after it was listed",
            hint="run again: the new version loads from the start",
            path=origin.location,
        )


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_COPIES = _Copies(COPY_BUDGET_BYTES)


def temporary_folder() -> str:
    """This process's temporary folder (made on first use, removed at exit)."""
    return _COPIES.folder()


def register_origin(origin: Origin) -> None:
    """Remember where a discovered file's bytes come from, so ``local_copy`` can fetch them."""
    _COPIES.register(origin)


def local_copy_of(origin: Origin) -> str:
    """A local file holding the bytes of a remote object or zip member (fetched once)."""
    return _COPIES.path_of(origin)


def local_copy(path: str, *, origin: Origin | None = None) -> str:
    """The local file to open for ``path``: the path itself, or the copy of a fetched one."""
    found = origin or _COPIES.origin_of(path)
    return path if found is None else _COPIES.path_of(found)
