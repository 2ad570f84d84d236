"""Processes the cluster tests start and stop themselves: Ray nodes (`ray start --block`,
one process group each, on explicit free ports), an S3-compatible server (moto's) and an
MLflow tracking server. Every process is stopped by its own process group id — never
`ray stop`, which matches processes by name machine-wide.

Token authentication: Ray 2.60's `ray start` turns it on only when it finds a token
(~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN), and a client that asks for
it (RAY_AUTH_MODE=token) fails with "Token authentication is enabled but Ray couldn't
find an authentication token" when it has none. Which of the two happens used to depend
on whether some earlier local `ray.init()` had written ~/.ray/auth_token on the machine.
`TokenAuth` makes it deterministic: a fresh token in a file of the test's own, given to
every node and every client through the environment."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.5) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass(frozen=True)
class TokenAuth:
    path: Path

    @classmethod
    def fresh(cls, folder: Path) -> TokenAuth:
        path = folder / "ray-auth-token"
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
        return cls(path)

    @property
    def env(self) -> dict[str, str]:
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.path)}


def process_env(extra: dict[str, str]) -> dict[str, str]:
    """The test's environment without what would point a child at another cluster or
    token, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                        "LIFECYCLE_RAY_ATTACH", "MLFLOW_TRACKING_URI", "LIFECYCLE_STORE")}
    env.update(PYTHONPATH=str(ROOT), RAY_DATA_DISABLE_PROGRESS_BARS="1", NO_COLOR="1")
    env.update(extra)
    return env


@dataclass
class Process:
    """A child in its own session: its process group is everything it started."""

    proc: subprocess.Popen[bytes]
    name: str
    log: Path

    @classmethod
    def start(cls, name: str, cmd: list[str], env: dict[str, str], log: Path) -> Process:
        out = log.open("wb")
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=ROOT)
        return cls(proc, name, log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: a node lost, nothing shut down cleanly."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        try:  # children that outlived their leader
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out for port 0 (free_port) and for outgoing
    connections: a node's worker range must stay below it, or a port picked for
    something else can fall inside it and `ray start` refuses the node."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_SLOTS = (_ephemeral_low() - 20000) // 300
assert _SLOTS >= 4, "the kernel's ephemeral ports start too low for nodes' worker ranges"
_FIRST = secrets.randbelow(_SLOTS)
_WORKER_PORTS = (20000 + (_FIRST + i) % _SLOTS * 300 for i in itertools.count())


def wait_answering(process: Process, url: str, timeout: float) -> None:
    """Until `url` answers at all (an HTTP error is an answer: auth may refuse us); the
    process's log when it exits first."""
    def up() -> bool:
        if not process.alive():
            raise AssertionError(f"{process.name} exited:\n" + process.tail())
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    wait_for(up, timeout, f"{process.name} to answer at {url}")


def _node_ports() -> list[str]:
    """Every port a node opens, explicit and free: two clusters (or another engineer's)
    on one machine never meet on Ray's defaults (6379, 8265, 10001, 52365, ...), and
    each node's workers get a port range of their own."""
    base = next(_WORKER_PORTS)
    return [f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
            f"--min-worker-port={base}", f"--max-worker-port={base + 299}"]


@dataclass
class Cluster:
    """A head node and worker nodes started with `ray start --block` on this machine."""

    folder: Path
    auth: TokenAuth
    env: dict[str, str]
    # Ray's session folder holds AF_UNIX sockets, whose paths may not exceed 107 bytes:
    # pytest's temporary folders are too deep for it (the dashboard's modules fail)
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lcray-")))
    temp_dirs: list[Path] = field(default_factory=list)  # the worker nodes' own
    gcs: str = ""
    dashboard: str = ""
    nodes: dict[str, Process] = field(default_factory=dict)

    @property
    def client_env(self) -> dict[str, str]:
        return process_env({**self.env, **self.auth.env})

    def start_head(self, num_cpus: float, resources: dict[str, float],
                   object_store_mb: int = 600, extra: tuple[str, ...] = ()) -> None:
        """The head; its resources carry the label `node_head`."""
        resources = {"node_head": 1.0, **resources}
        port, dash = free_port(), free_port()
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               f"--port={port}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
               f"--ray-client-server-port={free_port()}", f"--num-cpus={num_cpus:g}",
               f"--resources={json.dumps(resources)}", "--include-dashboard=true",
               f"--object-store-memory={object_store_mb * 1024 * 1024}",
               f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
               *_node_ports(), *extra]
        self.nodes["head"] = Process.start("head", cmd, self.client_env,
                                           self.folder / "head.log")
        self.gcs, self.dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"

        wait_answering(self.nodes["head"], f"{self.dashboard}/api/version", 120)

    def start_worker(self, name: str, num_cpus: float, resources: dict[str, float],
                     object_store_mb: int = 400) -> Process:
        """A node joining the head; its resources carry the label `node_<name>`. Its
        folder is its own, as a separate machine's would be: a node started without
        `--temp-dir` takes the head's, and the two would then unpack a Ray Job's
        working_dir into one folder — each node's runtime-env agent deletes and
        unpacks it again, leaving the job's driver in a deleted directory (where
        `import torch` dies in MKL's loader)."""
        labelled = {f"node_{name}": 1.0, **resources}
        temp_dir = Path(tempfile.mkdtemp(prefix=f"lcray{name}-"))
        self.temp_dirs.append(temp_dir)
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               f"--address={self.gcs}", f"--num-cpus={num_cpus:g}",
               f"--resources={json.dumps(labelled)}",
               f"--object-store-memory={object_store_mb * 1024 * 1024}",
               f"--temp-dir={temp_dir}", "--disable-usage-stats", *_node_ports()]
        node = Process.start(name, cmd, self.client_env, self.folder / f"{name}.log")
        self.nodes[name] = node

        def joined() -> bool:
            if not node.alive():
                raise AssertionError(f"ray start (node {name}) exited:\n" + node.tail())
            return name in self.node_ids()

        wait_for(joined, 120, f"node {name} to join", interval=1.0)
        return node

    def state(self, expression: str) -> Any:
        """A value computed from Ray's state API (`list_actors`, `list_nodes`, `address`)
        in a child process: this one keeps no connection to the cluster."""
        code = ("import json\nfrom ray.util.state import list_actors, list_nodes\n"
                f"address = {self.dashboard!r}\nprint(json.dumps({expression}))")
        r = subprocess.run([sys.executable, "-c", code], env=self.client_env,
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    def actors(self) -> list[dict[str, Any]]:
        """Live actors: class, name, pid and the node (by name) each runs on."""
        nodes = {v: k for k, v in self.node_ids().items()}
        rows = self.state("[(a.class_name, a.name, a.pid, a.node_id) for a in list_actors("
                          "address=address, filters=[('state', '=', 'ALIVE')], limit=5000)]")
        return [{"class_name": c, "name": n, "pid": pid, "node": nodes.get(node, "?")}
                for c, n, pid, node in rows]

    def node_ids(self) -> dict[str, str]:
        """Node name (by its custom resource label `node_<name>`) -> id, live nodes only."""
        out = {}
        for node_id, resources, state in self.state(
                "[(n.node_id, n.resources_total, n.state) for n in list_nodes(address=address)]"):
            if state != "ALIVE":
                continue
            for key in resources:
                if key.startswith("node_"):
                    out[key[len("node_"):]] = node_id
        return out

    def session_logs(self) -> list[Path]:
        """Every node's log files (the head's and each worker node's folder)."""
        return [p for folder in (self.temp_dir, *self.temp_dirs)
                for p in folder.glob("session_*/logs/**/*") if p.is_file()]

    def stop(self) -> None:
        for name in [n for n in self.nodes if n != "head"]:
            self.nodes[name].stop()
        if "head" in self.nodes:
            self.nodes["head"].stop()
        for folder in (self.temp_dir, *self.temp_dirs):
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def ray_cluster(folder: Path, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    folder.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder, TokenAuth.fresh(folder), env or {})
    try:
        yield cluster
    finally:
        cluster.stop()


# --- S3 and MLflow -----------------------------------------------------------------

S3_ENV = {"AWS_ACCESS_KEY_ID": "lifecycle-test-key-9f2c1e",
          "AWS_SECRET_ACCESS_KEY": "lifecycle-test-secret-71d0b4a8e3",
          "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(folder: Path) -> Iterator[str]:
    """moto's S3-compatible server on a free port (`moto_server`, as a process)."""
    port = free_port()
    server = Process.start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                    "-p", str(port)], process_env(S3_ENV),
                           folder / "moto.log")
    endpoint = f"127.0.0.1:{port}"
    with _answering(server, f"http://{endpoint}/moto-api/", 60):
        yield endpoint


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the test's S3 server, with the test's credentials."""
    import boto3

    return boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
                        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


@contextmanager
def mlflow_server(folder: Path, artifacts: str, s3_endpoint: str) -> Iterator[str]:
    """`mlflow server` with a sqlite backend and its artifact root on S3 (proxied: clients
    upload through it and need no S3 credentials of their own)."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
           str(port), "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
           "--artifacts-destination", artifacts, "--workers", "1"]
    server = Process.start("mlflow", cmd, process_env(
        {**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": f"http://{s3_endpoint}"}), folder / "mlflow.log")
    uri = f"http://127.0.0.1:{port}"
    with _answering(server, f"{uri}/health", 120):
        yield uri


@contextmanager
def _answering(server: Process, url: str, timeout: float) -> Iterator[None]:
    """A server started, answering, and stopped (its process group) at the end."""
    try:
        wait_answering(server, url, timeout)
        yield
    finally:
        server.stop(timeout=20)
