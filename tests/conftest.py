"""Shared fixtures: a store trained by the real CLI, and a real uvicorn server on loopback."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

# The test processes (`make test`: two, pytest-xdist) share the cores: each runs torch, in
# process and in the trainers it starts, on its share of them. Two processes of two threads
# each on two cores spent much of their time waiting for each other's threads (the suite
# took 654 s of wall time that way, 475 s this way). Servers set their own (AE_TORCH_THREADS).
_TEST_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _TEST_PROCESSES > 1:
    for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, str(max(1, (os.cpu_count() or 1) // _TEST_PROCESSES)))
TINY = ["--quiet"]
TINY_TRAIN = [
    "--epochs",
    "2",
    "--limit-train",
    "1000",
    "--limit-test",
    "200",
    "--iwae-images",
    "20",
]


# The longest modules start first, so that the two test processes (`make test` runs
# pytest-xdist with a module per process at a time) finish together rather than one
# training faces alone at the end. Longest first, measured with --durations.
LONGEST_FIRST = (
    "tests/e2e/test_smile_edit.py",
    "tests/e2e/test_battery.py",
    "tests/e2e/test_replicas.py",
    "tests/e2e/test_compose.py",
    "tests/trainer/test_distributed.py",
    "tests/model_store/test_store.py",
)


# The most the suite keeps in the temporary directory at once (the publish-crash tests write
# 8 MiB versions in a loop; a passing test's tmp_path goes at its teardown). A run that meets
# a full disk fails its last tests with ENOSPC, 15 minutes in: say so at the start instead.
TEMPORARY_PEAK_GB = 2


def pytest_report_header(config: pytest.Config) -> str:
    import tempfile

    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free / 1e9
    line = f"temporary files: {folder}, {free:.1f} GB free"
    if free < 1.5 * TEMPORARY_PEAK_GB:
        line += f" - WARNING: the suite needs about {TEMPORARY_PEAK_GB} GB there (TMPDIR=...)"
    return line


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module and among the rest is kept


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def train_tiny(store: Path, family: str, name: str, *extra: str) -> str:
    return run_cli("-m", "trainer", "--store", str(store), *TINY, "train", "--family", family,
                   "--name", name, *TINY_TRAIN, *extra)  # fmt: skip


PACKAGES = {"chromium": "chromium", "chromedriver": "chromium-driver", "nginx": "nginx-light"}


def readme_section(heading: str) -> list[tuple[str, str]]:
    """The (language, code) blocks of the README section under `### {heading}`."""
    text = (ROOT / "README.md").read_text()
    section = re.split(r"\n#{2,3} ", text.split(f"### {heading}\n", 1)[1], maxsplit=1)[0]
    return re.findall(r"```(bash|python)\n(.*?)```", section, re.S)


def run_readme_section(heading: str, server: Server, cwd: Path) -> list[tuple[str, str]]:
    """Runs a README section's commands as written, against `server` instead of port 8000,
    in `cwd` with the repository's docs/ beside them (the example inputs): each shell block
    as one script (curl with -f, so an HTTP error fails it), each Python block as a script.
    `python3` is this environment's. Returns (command, its stdout) per shell command that is
    not an assignment, then one per Python block."""
    host = server.url.removeprefix("http://")
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    if not (cwd / "docs").exists():
        (cwd / "docs").symlink_to(ROOT / "docs")
    out = []
    for language, code in readme_section(heading):
        code = code.replace("localhost:8000", host).replace("127.0.0.1:8000", host)
        if language == "python":
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  cwd=cwd, env=env, timeout=120)  # fmt: skip
            assert proc.returncode == 0, (code, proc.stderr[-3000:])
            out.append((code, proc.stdout))
            continue
        lines = [line.split("  #")[0].replace("curl -s ", "curl -sf ")
                 for line in code.replace("\\\n", " ").splitlines()
                 if line.strip() and not line.startswith("#")]  # fmt: skip
        script = "set -e\n" + "".join(f"{line}\nprintf '\\n\\036\\n'\n" for line in lines)
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=cwd,
                              env=env, timeout=300)  # fmt: skip
        assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
        outputs = proc.stdout.split("\n\036\n")
        for line, stdout in zip(lines, outputs, strict=False):
            if not re.match(r"^[A-Z_]+=", line):
                out.append((line, stdout))
    return out


def need_programs(*programs: str) -> dict[str, str]:
    """The paths of Debian programs a test drives. `make test` installs them where it can
    (tests/system-packages.sh); where they are still missing the test is skipped, saying which
    package it needs, unless AE_REQUIRE_PROGRAMS=1 (CI), where it fails."""
    found = {name: shutil.which(name) for name in programs}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        packages = " ".join(PACKAGES.get(m, m) for m in missing)
        why = f"needs {', '.join(missing)}: apt-get install {packages} (make test does, as root)"
        if os.environ.get("AE_REQUIRE_PROGRAMS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return found  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    store: Path
    log: Path

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kw)


def start_server(
    store: Path, log: Path, env: dict[str, str] | None = None, wait_ready: bool = True
) -> Server:
    port = free_port()
    out = open(log, "w")  # closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--store",
            str(store),
        ],
        cwd=ROOT,
        env={**os.environ, "AE_LOG_LEVEL": "warning", **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, store, log)
    deadline = time.monotonic() + 60
    path = "/ready" if wait_ready else "/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(server.url + path, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"server not ready in 60 s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()


def _store_key() -> str:
    """What the session's trained store depends on: the code that trains and publishes it
    (with the data it embeds), this file (the recipe), the commit it records as its
    code_version, the library versions and the trainers' thread count."""
    import numpy
    import torch

    digest = hashlib.sha256(Path(__file__).read_bytes())
    for folder in ("autoencoders", "model_store", "trainer"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    # The thread count too: a float sum over more threads rounds differently.
    threads = os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())
    digest.update(f"{head} {torch.__version__} {numpy.__version__} {sys.version} {threads}".encode())
    return digest.hexdigest()[:20]


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory) -> Path:
    """Tiny versions of every default model plus a linear AE, trained through the real CLI.
    Independent chains train side by side (two cores: about half the time).

    A store trained once is kept in .cache/test-stores/<key> and copied for the next
    session whose key is the same (same training code, recipe, commit and libraries): a
    second `make test-fast` does not train again. AE_TEST_STORE_CACHE=0 always trains."""
    key = _store_key()
    cached = ROOT / ".cache" / "test-stores" / key
    if os.environ.get("AE_TEST_STORE_CACHE", "1") == "0":
        return _train_store(tmp_path_factory.mktemp("store"))
    cached.parent.mkdir(parents=True, exist_ok=True)
    # One trainer at a time: the test workers (`-n 2`) and other sessions that want the same
    # store wait for the first to train it, then copy it.
    with open(cached.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.is_dir():
            for old in cached.parent.iterdir():  # only the newest key is kept
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            trained = _train_store(tmp_path_factory.mktemp("store"))
            partial = cached.with_name(f".{key}.{os.getpid()}")  # whole or not at all
            shutil.copytree(trained, partial)
            partial.rename(cached)
    store = tmp_path_factory.mktemp("store-copy") / "store"
    shutil.copytree(cached, store)
    return store


def _train_store(store: Path) -> Path:
    faces = ["--dataset", "synthetic-faces:600", "--epochs", "2"]

    def digits() -> None:
        train_tiny(store, "classifier", "mnist-classifier")
        train_tiny(store, "cvae", "mnist-cvae", "--classifier", "mnist-classifier")
        train_tiny(store, "vae", "mnist-vae", "--prior-components", "8",  # as bootstrap's: learned
                   "--classifier", "mnist-classifier")  # and read by the classifier
        train_tiny(store, "linear-ae", "mnist-ae-linear", "--hidden", "128", "--latent", "16")

    def face_models() -> None:
        run_cli("-m", "trainer", "--store", str(store), *TINY, "train", "--family",
                "classifier", "--multilabel", "--name", "faces-attributes", *faces)  # fmt: skip
        # The conv model is built as bootstrap's (batch norm, upsampling, no dense layer).
        conv = ["--hidden", "", "--conv-channels", "8,16,32", "--norm", "batch", "--upsample",
                "nearest", "--decoder-channels", "32,16,8,8", "--activation", "silu"]  # fmt: skip
        for family, body in (("linear-ae", ["--hidden", "256"]), ("conv-ae", conv)):
            run_cli("-m", "trainer", "--store", str(store), *TINY, "train", "--family", family,
                    "--name", f"faces-ae-{family[:-3]}", "--latent", "32", *body,
                    "--classifier", "faces-attributes", *faces)  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        for chain in [pool.submit(digits), pool.submit(face_models)]:
            chain.result()
    return store


@pytest.fixture(scope="session")
def server(trained_store, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("logs") / "server.log"
    srv = start_server(trained_store, log)
    yield srv
    stop_server(srv)


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 server process (moto) for the session; each test takes its own bucket."""
    from tests.s3server import start_s3_server

    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path, monkeypatch):
    """An empty store: a directory, or a fresh bucket (with a prefix) on the S3 server. The
    AWS variables are set in this process, so processes it starts (publishers, servers)
    reach the same bucket."""
    from model_store import LocalStore, open_store

    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    server = request.getfixturevalue("s3_server")
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    bucket = server.new_bucket()
    yield open_store(f"s3://{bucket}/team/models")
    server.drop_bucket(bucket)
