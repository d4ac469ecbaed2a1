"""Real services for integration tests: a Redis server and `celery worker` processes.

Both run as child processes in their own process groups, so a test can kill them the way
an operator or the kernel would (SIGKILL) and start them again.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import redis

from apps.core.redis_server import redis_server_argv

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildProcess:
    """A subprocess in its own session; its output goes to a log file for post-mortems."""

    def __init__(self, argv: list[str], *, env: Mapping[str, str], log: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self) -> "ChildProcess":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Where this run's output begins, when the log is shared with an earlier run.
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acknowledgements."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.process or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self, *, this_run: bool = False) -> str:
        """The log's text: all of it, or only what this run (the last `start`) wrote."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(self.log_offset if this_run else 0)
            return log.read().decode(errors="replace")


class RedisServer(ChildProcess):
    def __init__(self, directory: Path, *, persistent: bool = True) -> None:
        self.port = free_port()
        super().__init__(
            redis_server_argv(self.port, directory, persistent=persistent),
            env=os.environ,
            log=directory / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        super().start()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(
                        f"Redis did not start:\n{self.output()}"
                    ) from None
                time.sleep(0.05)


def database_url(settings: Mapping[str, object]) -> str:
    """A DATABASE_URL for the database Django is connected to (in a test, the test one)."""
    if str(settings["ENGINE"]).endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user, password = (
        quote(str(settings[key] or ""), safe="") for key in ("USER", "PASSWORD")
    )
    host, port = settings["HOST"] or "localhost", settings["PORT"] or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{settings['NAME']}"


def worker_env(
    *,
    database_url: str,
    redis_url: str,
    emulator_url: str,
    var_dir: Path,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker that shares the test's database, broker and emulator."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PORTAL_", "EDIT_", "CELERY_", "AWS_"))
        and name not in {"DATABASE_URL", "REDIS_URL", "HEALTHIMAGING_UPDATE_RATE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "imaging_portal.settings",
            "PORTAL_VAR_DIR": str(var_dir),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "HEALTHIMAGING_ENDPOINT_URL": emulator_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "HEALTHIMAGING_UPDATE_RATE": "50 per second",
            "EDIT_POLL_FIRST_SECONDS": "0.5",
            "EDIT_POLL_MAX_SECONDS": "2",
            "EDIT_RECONCILE_INTERVAL_SECONDS": "2",
            "EDIT_RECONCILE_GRACE_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides or {})
    return env


class CeleryWorker(ChildProcess):
    """`celery worker` (prefork), with the beat scheduler inside when `beat` is set."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        concurrency: int = 2,
        beat: bool = True,
        name: str = "worker",
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "imaging_portal",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}-{free_port()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            argv += ["--beat", "--schedule", str(log.parent / f"{name}-beat-schedule")]
        super().__init__(argv, env=env, log=log)
        self.beat = beat

    def start(self, timeout: float = 60) -> "CeleryWorker":
        super().start()
        deadline = time.monotonic() + timeout
        while " ready." not in self.output(this_run=True):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(
                    f"The worker did not start:\n{self.output(this_run=True)[-4000:]}"
                )
            time.sleep(0.1)
        return self

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool's processes: the main process's children, from /proc.

        Embedded beat would be one more child, indistinguishable there, so only a worker
        started without it has a pool to list.
        """
        if self.beat:
            raise ValueError(
                "a worker with embedded beat: its children are not all pool"
            )
        children = []
        for thread in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # the thread ended meanwhile
                children += [
                    int(pid) for pid in (thread / "children").read_text().split()
                ]
        return children

    def kill_pool_child(self, pid: int) -> None:
        """SIGKILL one pool process, as the kernel's OOM killer would; the pool replaces it."""
        if pid not in self.pool_children():
            raise ValueError(f"{pid} is not one of this worker's pool processes")
        os.kill(pid, signal.SIGKILL)


def start_together(
    start: Callable[..., CeleryWorker], *names: str, **options: object
) -> list[CeleryWorker]:
    """Start one worker per name at once (each takes seconds to be ready), the first with
    the beat scheduler; `start` is the `start_worker` fixture."""
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        started = [
            pool.submit(start, name=name, beat=index == 0, **options)
            for index, name in enumerate(names)
        ]
        return [future.result() for future in started]
