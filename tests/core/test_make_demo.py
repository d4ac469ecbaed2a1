"""`make demo` on a fresh checkout: a clean clone of this repository (its committed HEAD),
no virtualenv, no var/. Within two minutes every demo account signs in over HTTP and finds
the synthetic archive and the DICOM files the demo imported; Ctrl-C stops it all."""

import html
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.demo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 120
PASSWORD = "demo-password-for-the-test"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """Just enough of a browser: cookies, a CSRF token from the form, redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def sign_in(self, username: str) -> str:
        form = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD}
        ).encode()
        request = urllib.request.Request(
            self.base + "/login/", data=data, headers={"Referer": self.base + "/login/"}
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


def datastore_links(page: str) -> dict[str, str]:
    return {
        html.unescape(name).strip(): href
        for href, name in re.findall(
            r'<a href="(/datastores/[0-9a-z]{32}/)"[^>]*>([^<]+)</a>', page
        )
    }


def wait_for_portal(base: str, demo: subprocess.Popen, started: float) -> None:
    while time.monotonic() - started < DEADLINE_SECONDS:
        assert demo.poll() is None, "make demo stopped"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"the portal was not up within {DEADLINE_SECONDS} s")


def test_make_demo_from_a_clean_clone_serves_every_demo_account_within_two_minutes(
    tmp_path,
):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], check=True)
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PORTAL_", "VIRTUAL_ENV"))
        and name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    env |= {
        "PORT": str(port),
        "EMULATOR_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "DEMO_PASSWORD": PASSWORD,
    }
    log = (tmp_path / "demo.log").open("w")
    started = time.monotonic()
    demo = subprocess.Popen(
        ["make", "demo"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group, as a terminal's Ctrl-C reaches
    )
    imported_patient = pydicom.dcmread(get_testdata_file("CT_small.dcm")).PatientID
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_portal(base, demo, started)
        for username in ("viewer", "editor", "admin"):
            browser = Browser(base)
            landing = browser.sign_in(username)
            assert f"Signed in as <strong>{username}</strong>" in landing
            stores = datastore_links(landing)
            assert {"demo", "teaching-files"} <= set(stores), stores
            assert "data-image-set-id" in browser.get(stores["demo"])
            query = urllib.parse.urlencode(
                {"property": "patient_id", "value": imported_patient}
            )
            for _ in range(int(DEADLINE_SECONDS - (time.monotonic() - started)) + 1):
                found = browser.get(f"{stores['teaching-files']}?{query}")
                if "data-image-set-id" in found:
                    break
                time.sleep(1)  # the import job may still be running
            assert "data-image-set-id" in found, "the imported image set is missing"
        elapsed = time.monotonic() - started
        assert elapsed < DEADLINE_SECONDS, f"took {elapsed:.0f} s"
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert "Demo stopped." in output, output[-3000:]
