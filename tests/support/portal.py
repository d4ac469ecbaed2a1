"""The portal as production runs it, for tests: gunicorn on 127.0.0.1, and people signing in."""

import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from tests.support.worker import ChildProcess, free_port


class PortalServer(ChildProcess):
    """`gunicorn imaging_portal.wsgi` as docker-compose.yml runs it (gunicorn.conf.py is read
    from the working directory), on a free port of 127.0.0.1."""

    def __init__(self, env: Mapping[str, str], log: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        super().__init__(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "imaging_portal.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "60",
            ],
            env=env,
            log=log,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_serving(self, timeout: float = 60) -> "PortalServer":
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.url}/healthz", timeout=2)
                return self
            except requests.RequestException:  # not listening yet, or still starting
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"gunicorn did not serve:\n{self.output()[-4000:]}"
                    ) from None
                time.sleep(0.2)


def signed_in(url: str, username: str, password: str) -> requests.Session:
    """A session signed in through the sign-in form, as a browser does."""
    session = requests.Session()
    form = session.get(f"{url}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    answer = session.post(
        f"{url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session
