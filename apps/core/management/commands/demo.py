"""`manage.py demo`: bring the whole demo up with one command.

Migrates, collects static files, makes sure the demo accounts exist (one per role), seeds the
emulator and puts pydicom's example DICOM files in its S3 folder, then supervises the emulator,
Redis, a Celery worker and the web server with honcho until Ctrl-C or SIGTERM, which stop every
process started here; once the emulator is up the files are imported (once: later runs find the
same job). The emulator is a subprocess, never imported. Everything the demo writes is under
the var directory.
"""

import os
import secrets
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from honcho.manager import SIGNALS, Manager
from honcho.printer import Printer
from pydicom.data import get_testdata_files

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.core.redis_server import redis_server_argv

# One account per role: (username, role). Made only by `manage.py demo`, never by a migration.
DEMO_ACCOUNTS = ((VIEWER, VIEWER), (EDITOR, EDITOR), (ADMIN, ADMIN))
SEED_IMAGE_SETS = 500
SEED_RANDOM_SEED = 7
# Real DICOM files from real equipment (the examples that ship with pydicom), imported into the
# smaller data store beside its synthetic archive. The fixed client token makes every later
# run find the same job instead of importing them again.
EXAMPLES_DATASTORE = "teaching-files"
EXAMPLES_INPUT = "s3://demo-dicom/pydicom-examples/"
EXAMPLES_OUTPUT_BUCKET = "demo-dicom-results"
EXAMPLES_OUTPUT = f"s3://{EXAMPLES_OUTPUT_BUCKET}/pydicom-examples/"
EXAMPLES_IMPORT_ROLE = "arn:aws:iam::123456789012:role/ImagingPortalDemoImport"
EXAMPLES_CLIENT_TOKEN = "demo-pydicom-examples"
STOPPED_BY_SIGNAL = {spec["rc"] for spec in SIGNALS.values()}
# botocore signs every request, so it needs some credentials; the emulator checks none.
# Fixed ones keep real credentials from the environment away from the emulator.
AWS_CREDENTIAL_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
}
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "emulator",
    "AWS_SECRET_ACCESS_KEY": "emulator",
}


@dataclass(frozen=True)
class Child:
    """One supervised process: a name for the log prefix, its argv and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]


def demo_children(
    *,
    python: str,
    manage: Path,
    state: Path,
    port: int,
    emulator_port: int,
    base_env: Mapping[str, str],
    redis_port: int | None = None,
    var_dir: Path = Path("var"),
) -> list[Child]:
    """The demo's processes: the emulator, Redis (unless REDIS_URL names one), a Celery
    worker with the reconciler's beat inside, and the web server."""
    env = {**base_env, "PYTHONUNBUFFERED": "1"}
    emulator_addr = f"127.0.0.1:{emulator_port}"
    portal_env = portal_environment(
        base_env=env, emulator_port=emulator_port, redis_port=redis_port
    )
    children = [
        Child(
            name="emulator",
            argv=[
                python,
                str(manage),
                "runemulator",
                "--addr",
                emulator_addr,
                "--state",
                str(state),
            ],
            env=env,
        )
    ]
    if redis_port is not None:
        children.append(
            Child(
                name="redis",
                argv=redis_server_argv(redis_port, var_dir / "redis"),
                env=env,
            )
        )
    children += [
        Child(
            name="worker",
            argv=[
                python,
                "-m",
                "celery",
                "--app",
                "imaging_portal",
                "worker",
                "--beat",
                "--schedule",
                str(var_dir / "celerybeat-schedule"),
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env=portal_env,
        ),
        Child(
            name="web",
            argv=[python, str(manage), "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=portal_env,
        ),
    ]
    return children


def portal_environment(
    *, base_env: Mapping[str, str], emulator_port: int, redis_port: int | None
) -> dict[str, str]:
    """The environment of the demo's portal processes: the emulator as HealthImaging, with
    fixed credentials, and the demo's own Redis when it runs one."""
    env = {
        **{k: v for k, v in base_env.items() if k not in AWS_CREDENTIAL_VARIABLES},
        **EMULATOR_CREDENTIALS,
        "HEALTHIMAGING_ENDPOINT_URL": f"http://127.0.0.1:{emulator_port}",
    }
    if redis_port is not None:
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        env.pop("CELERY_BROKER_URL", None)
    return env


class OneOffJob:
    """A command run once, as soon as something listens on `port` (the emulator), beside the
    supervisor: honcho stops everything when one of its children ends, so a one-off job can
    not be one of them. It runs in its own session, so it is stopped by `stop()` with the
    demo (SIGINT or SIGTERM alike) and never outlives it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        port: int,
        timeout: float = 60,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.port = port
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.stopped = False
        # Held while the process starts, so a stop can not fall between check and start.
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, name="demo-import", daemon=True)

    def start(self) -> "OneOffJob":
        self.thread.start()
        return self

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while port_is_free(self.port):
            if self.stopped:
                return
            if time.monotonic() > deadline:
                sys.stderr.write(f"Nothing listened on port {self.port}: no import.\n")
                return
            time.sleep(0.2)
        with self.lock:
            if self.stopped:
                return
            self.process = subprocess.Popen(
                self.argv, env=self.env, start_new_session=True
            )
        returncode = self.process.wait()
        if returncode and not self.stopped:
            sys.stderr.write(
                f"The demo's DICOM import failed (exit code {returncode}).\n"
            )

    def stop(self, grace: float = 10) -> None:
        with self.lock:
            self.stopped = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def supervise(children: Sequence[Child], *, output: TextIO | None = None) -> int:
    """Run the children until one stops or a signal arrives; return honcho's exit code.

    honcho starts each child in its own session and, on SIGINT/SIGTERM or when any child
    stops, sends SIGTERM to every process group (SIGKILL after 5 s).
    """
    manager = Manager(Printer(output or sys.stdout))
    for child in children:
        # honcho runs a shell command line; `exec` lets signals reach the child itself.
        manager.add_process(
            child.name, f"exec {shlex.join(child.argv)}", env=dict(child.env)
        )
    manager.loop()
    return manager.returncode or 0


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do, so a port in TIME_WAIT from the last run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = (
        "Run the demo: migrate, seed the emulator, then run the emulator, Redis, "
        "a Celery worker and the web server."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        port, emulator_port = settings.DEMO_PORT, settings.DEMO_EMULATOR_PORT
        # An embedded Redis unless the environment names a Redis to use.
        redis_port = None if "REDIS_URL" in os.environ else settings.DEMO_REDIS_PORT
        ports = [("PORT", port), ("EMULATOR_PORT", emulator_port)]
        if redis_port is not None:
            ports.append(("REDIS_PORT (or set REDIS_URL)", redis_port))
        for name, value in ports:
            if not port_is_free(value):
                raise CommandError(
                    f"Port {value} is in use: set {name} to a free port."
                )

        manage = Path(settings.BASE_DIR) / "manage.py"
        state = Path(settings.VAR_DIR) / "emulator.sqlite3"

        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        password = self.ensure_demo_users()
        connections.close_all()  # the children open their own

        self.stdout.write(
            "Seeding the emulator (skipped when its data store exists)..."
        )
        seed = [sys.executable, str(manage), "seed_demo", "--state", str(state)]
        seed += ["--image-sets", str(SEED_IMAGE_SETS)]
        seed += ["--random-seed", str(SEED_RANDOM_SEED)]
        if subprocess.run(seed, check=False).returncode != 0:
            raise CommandError("seed_demo failed; see its output above.")
        upload = [sys.executable, str(manage), "s3_upload", "--state", str(state)]
        upload += ["--create-bucket", EXAMPLES_OUTPUT_BUCKET]
        upload += [*get_testdata_files(), EXAMPLES_INPUT]
        if subprocess.run(upload, check=False).returncode != 0:
            raise CommandError("s3_upload failed; see its output above.")

        self.stdout.write(
            self.style.SUCCESS(
                f"Imaging Portal: http://127.0.0.1:{port}/ (Ctrl-C stops it)\n"
                + self.sign_ins(password)
            )
        )
        children = demo_children(
            python=sys.executable,
            manage=manage,
            state=state,
            port=port,
            emulator_port=emulator_port,
            base_env=os.environ,
            redis_port=redis_port,
            var_dir=Path(settings.VAR_DIR),
        )
        dicom_import = OneOffJob(
            [
                sys.executable,
                str(manage),
                "import_dicom",
                "--datastore",
                EXAMPLES_DATASTORE,
                "--input",
                EXAMPLES_INPUT,
                "--output",
                EXAMPLES_OUTPUT,
                "--role-arn",
                EXAMPLES_IMPORT_ROLE,
                "--as",
                ADMIN,
                "--job-name",
                "pydicom-examples",
                "--client-token",
                EXAMPLES_CLIENT_TOKEN,
                "--wait",
                "120",
            ],
            env=portal_environment(
                base_env=os.environ, emulator_port=emulator_port, redis_port=redis_port
            ),
            port=emulator_port,
        ).start()
        try:
            returncode = supervise(children)
        finally:
            dicom_import.stop()
        if returncode in STOPPED_BY_SIGNAL:
            self.stdout.write("Demo stopped.")
            return
        raise CommandError(f"A demo process stopped (exit code {returncode}).")

    def ensure_demo_users(self) -> str:
        """Create or refresh one demo account per role; returns the password to print.

        Each account is in its role's group and no other role's. `admin` is also staff (it may open the
        Django admin); it is a superuser only if an earlier demo made it one.
        """
        # Here, not at the top: `supervise` is imported by processes without Django set up.
        from apps.accounts.services import set_role

        password = settings.DEMO_PASSWORD or demo_password_from_file(
            Path(settings.VAR_DIR) / "demo-password"
        )
        user_model = get_user_model()
        for username, role in DEMO_ACCOUNTS:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"is_staff": role == ADMIN}
            )
            if created or not user.check_password(password):
                user.set_password(password)
            if role == ADMIN:
                user.is_staff = True
            user.is_active = True
            user.save()
            set_role(user, role)
            if created:
                self.stdout.write(f"Created the demo account {username!r} ({role}).")
        return password

    def sign_ins(self, password: str) -> str:
        return "\n".join(
            f"  sign in as {username!r} ({role}) with password {password!r}"
            for username, role in DEMO_ACCOUNTS
        )


def demo_password_from_file(path: Path) -> str:
    """A random demo password, made once and kept (mode 0600) so it stays the same."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(12))
    return path.read_text().strip()
