import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.accounts.services import set_role
from apps.core.management.commands.demo import Command as DemoCommand
from apps.core.management.commands.demo import (
    OneOffJob,
    demo_children,
    port_is_free,
)
from tests.support.edits import wait_until as poll_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_demo_children_point_the_web_server_at_the_emulator():
    emulator, worker, web = demo_children(
        python="/py",
        manage=Path("/app/manage.py"),
        state=Path("/app/var/emulator.sqlite3"),
        port=8001,
        emulator_port=9999,
        base_env={"PATH": "/bin", "AWS_SESSION_TOKEN": "real", "AWS_PROFILE": "prod"},
    )

    assert list(emulator.argv) == [
        "/py",
        "/app/manage.py",
        "runemulator",
        "--addr",
        "127.0.0.1:9999",
        "--state",
        "/app/var/emulator.sqlite3",
    ]
    assert list(web.argv) == [
        "/py",
        "/app/manage.py",
        "runserver",
        "127.0.0.1:8001",
        "--noreload",
    ]
    assert web.env["HEALTHIMAGING_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    assert worker.argv[1:6] == ["-m", "celery", "--app", "imaging_portal", "worker"]
    assert "--beat" in worker.argv  # the reconciler runs on Celery beat
    assert worker.env == web.env


def test_demo_children_never_hand_real_aws_credentials_to_the_portal():
    _, worker, web = demo_children(
        python="/py",
        manage=Path("manage.py"),
        state=Path("state"),
        port=8000,
        emulator_port=8765,
        base_env={"AWS_SECRET_ACCESS_KEY": "real", "AWS_SESSION_TOKEN": "real"},
    )

    for child in (worker, web):
        assert child.env["AWS_SECRET_ACCESS_KEY"] == "emulator"
        assert "AWS_SESSION_TOKEN" not in child.env


def test_demo_children_run_their_own_redis_unless_one_is_named(tmp_path):
    children = demo_children(
        python="/py",
        manage=Path("manage.py"),
        state=Path("state"),
        port=8000,
        emulator_port=8765,
        base_env={"CELERY_BROKER_URL": "redis://elsewhere:6379/0"},
        redis_port=6390,
        var_dir=tmp_path,
    )

    redis, worker, web = (
        next(child for child in children if child.name == name)
        for name in ("redis", "worker", "web")
    )
    assert redis.argv[:3] == [redis.argv[0], "--port", "6390"]
    assert str(tmp_path / "redis") in redis.argv  # its files stay in var/
    for child in (worker, web):
        assert child.env["REDIS_URL"] == "redis://127.0.0.1:6390/0"
        assert "CELERY_BROKER_URL" not in child.env


def test_port_is_free_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def sleeper_job(tmp_path, port):
    """A job that writes its pid, then sleeps far longer than any test."""
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
    code += "time.sleep(300)"
    argv = [sys.executable, "-c", code, str(tmp_path / "job.pid")]
    return OneOffJob(argv, env=os.environ, port=port)


def test_a_one_off_job_starts_once_the_port_listens_and_stops_with_the_demo(tmp_path):
    port, pid_file = free_port(), tmp_path / "job.pid"
    job = sleeper_job(tmp_path, port).start()
    try:
        time.sleep(0.5)
        assert not pid_file.exists(), "started before the port listened"
        with socket.create_server(("127.0.0.1", port)):
            pid = int(
                poll_until(
                    lambda: pid_file.exists() and pid_file.read_text(),
                    timeout=30,
                    what="the job's pid",
                )
            )
    finally:
        job.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    job.thread.join(timeout=5)
    assert not job.thread.is_alive()


def test_a_one_off_job_stopped_before_the_port_listens_never_starts(tmp_path):
    port = free_port()
    job = sleeper_job(tmp_path, port).start()
    job.stop()
    with socket.create_server(("127.0.0.1", port)):
        job.thread.join(timeout=5)

    assert not job.thread.is_alive()
    assert job.process is None
    assert not (tmp_path / "job.pid").exists()


SUPERVISOR = textwrap.dedent(
    """
    import sys
    from apps.core.management.commands.demo import Child, supervise

    sleeper = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
    exiter = sleeper.replace("time;", "time; time.sleep(1);") + "sys.exit(3)"
    mode, tmp = sys.argv[1], sys.argv[2]
    code = {"sleep": sleeper + "time.sleep(300)", "exit": exiter}
    children = [
        Child("one", [sys.executable, "-c", code["sleep"], tmp + "/one.pid"], {}),
        Child("two", [sys.executable, "-c", code[mode], tmp + "/two.pid"], {}),
    ]
    sys.exit(supervise(children))
    """
)


def start_supervisor(mode, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, mode, str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def child_pids(tmp_path, timeout=30):
    deadline = time.monotonic() + timeout
    files = [tmp_path / "one.pid", tmp_path / "two.pid"]
    while time.monotonic() < deadline:
        if all(f.exists() and f.read_text() for f in files):
            return [int(f.read_text()) for f in files]
        time.sleep(0.05)
    raise AssertionError("the children did not start")


def running_commands():
    return subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True, check=True
    ).stdout


def stop(process):
    """After a failed test: SIGTERM, not SIGKILL, so honcho stops its children."""
    if process.poll() is None:
        process.terminate()
        process.communicate(timeout=30)


def assert_gone(pids, tmp_path):
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert str(tmp_path) not in running_commands()


@pytest.mark.parametrize(
    ("signum", "returncode"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_supervise_stops_every_child_on_a_signal(tmp_path, signum, returncode):
    supervisor = start_supervisor("sleep", tmp_path)
    try:
        pids = child_pids(tmp_path)
        supervisor.send_signal(signum)
        output, _ = supervisor.communicate(timeout=30)
    finally:
        stop(supervisor)

    assert supervisor.returncode == returncode, output
    assert_gone(pids, tmp_path)


def test_supervise_stops_the_others_when_one_child_exits(tmp_path):
    supervisor = start_supervisor("exit", tmp_path)
    try:
        pids = child_pids(tmp_path)
        output, _ = supervisor.communicate(timeout=30)
    finally:
        stop(supervisor)

    assert supervisor.returncode == 3, output
    assert "two stopped (rc=3)" in output
    assert_gone(pids, tmp_path)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(probe, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            return probe()
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the demo did not come up")


def healthz(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
        return json.load(r)


def connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


def test_demo_command_serves_portal_and_emulator_and_ctrl_c_stops_both(
    portal_env, manage_py, tmp_path
):
    port, emulator_port, redis_port = free_port(), free_port(), free_port()
    env = {
        **portal_env,
        "PORT": str(port),
        "EMULATOR_PORT": str(emulator_port),
        "REDIS_PORT": str(redis_port),
    }
    env.pop("REDIS_URL", None)
    demo = subprocess.Popen(
        [*manage_py, "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_until(lambda: healthz(port), demo)["status"] == "ok"
        assert wait_until(lambda: connect(emulator_port), demo)
        assert wait_until(lambda: connect(redis_port), demo)

        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=30)
    finally:
        stop(demo)

    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
    for role in ("viewer", "editor", "admin"):
        assert f"sign in as {role!r} ({role}) with password" in output
    assert "worker started" in output
    assert port_is_free(port)
    assert port_is_free(emulator_port)
    assert port_is_free(redis_port)
    assert str(tmp_path) not in running_commands()


def test_demo_command_names_the_variable_to_change_when_a_port_is_taken(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        settings.DEMO_PORT = free_port()
        settings.DEMO_EMULATOR_PORT = sock.getsockname()[1]

        with pytest.raises(CommandError, match="set EMULATOR_PORT to a free port"):
            call_command("demo")


@pytest.mark.django_db
def test_demo_accounts_take_their_password_from_demo_password(settings):
    settings.DEMO_PASSWORD = "correct-horse-battery"
    password = DemoCommand().ensure_demo_users()
    users = get_user_model().objects.filter(username__in=["viewer", "editor", "admin"])
    assert password == "correct-horse-battery"
    assert len(users) == 3
    assert all(user.check_password("correct-horse-battery") for user in users)
    settings.DEMO_PASSWORD = "changed-in-the-environment"
    DemoCommand().ensure_demo_users()
    for user in users:
        user.refresh_from_db()
        assert user.check_password("changed-in-the-environment")


@pytest.mark.django_db
def test_demo_accounts_get_a_random_password_kept_in_the_var_dir(settings, tmp_path):
    settings.DEMO_PASSWORD = ""
    settings.VAR_DIR = tmp_path
    first = DemoCommand().ensure_demo_users()
    second = DemoCommand().ensure_demo_users()
    assert first == second
    assert len(first) >= 16
    assert (tmp_path / "demo-password").stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_demo_makes_one_account_per_role_in_its_group_only(settings):
    settings.DEMO_PASSWORD = "correct-horse-battery"
    set_role(get_user_model().objects.create_user("editor"), "admin")

    DemoCommand().ensure_demo_users()

    users = {user.username: user for user in get_user_model().objects.all()}
    assert set(users) == {"viewer", "editor", "admin"}
    for name, user in users.items():
        assert [group.name for group in user.groups.all()] == [name]
        assert not user.is_superuser
        assert user.is_staff is (name == "admin")
    assert users["admin"].has_perm("accounts.force_edit")
    assert not users["editor"].has_perm("accounts.force_edit")
    assert users["editor"].has_perm("accounts.queue_edit")
    assert not users["viewer"].has_perm("accounts.queue_edit")
    assert users["viewer"].has_perm("accounts.browse")


@pytest.mark.django_db
def test_demo_leaves_an_admin_that_is_already_a_superuser_one(settings):
    settings.DEMO_PASSWORD = "correct-horse-battery"
    get_user_model().objects.create_superuser("admin")

    DemoCommand().ensure_demo_users()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert [group.name for group in admin.groups.all()] == ["admin"]


@pytest.mark.django_db
def test_no_account_exists_outside_demo_mode():
    """The migrations make the roles, never a user: accounts come from the demo or people."""
    assert not get_user_model().objects.exists()
