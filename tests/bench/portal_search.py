"""Benchmark: what does the portal add to a search on top of HealthImaging itself?

In one run: an emulator seeded with 2,000 image sets, the portal's WSGI app served by waitress
on 127.0.0.1 and pointed at it, a signed-in keep-alive HTTP session. For each search (no
criteria, patient ID, study date range) it times the htmx results page (`HX-Request: true`,
50 per page) and the very same `SearchImageSets` call (the criteria the portal builds, 50 per
page) made directly with boto3 over a keep-alive connection, and prints p50/p95 of both and
the ratio of the p50s (aim: at most 1.5). It also prints the bytes of the htmx fragment
against the full page for the same URL, and times the same searches through the REST API
(JSON, a personal token) against boto3 the same way.

Run: `make bench` (or `python -m tests.bench.portal_search [--image-sets 2000] [--rounds 200]`).
"""

import argparse
import datetime
import http.cookies
import logging
import os
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import urllib3

ROUNDS = 200
WARMUP = 30
PAGE_SIZE = 50
TARGET_RATIO = 1.5
USERNAME = "bench"
PASSWORD = "bench-password-not-secret"


def _paired_timings(
    first: Callable[[int], object], second: Callable[[int], object], rounds: int
) -> tuple[list[float], list[float]]:
    """Time two calls round by round, alternating which goes first, so drift in the
    machine's speed falls on both alike."""
    for round_number in range(WARMUP):
        first(round_number)
        second(round_number)
    samples: tuple[list[float], list[float]] = ([], [])
    for round_number in range(rounds):
        order = (0, 1) if round_number % 2 == 0 else (1, 0)
        for index in order:
            call = (first, second)[index]
            started = time.perf_counter()
            call(round_number)
            samples[index].append(time.perf_counter() - started)
    return samples


def _percentile(samples: list[float], fraction: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[
        round(fraction * 100) - 1
    ]


class PortalSession:
    """A signed-in browser stand-in: one keep-alive connection, cookies, the CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = urllib3.PoolManager(maxsize=1, retries=False)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: dict | None = None,
        headers: dict | None = None,
    ) -> urllib3.BaseHTTPResponse:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.http.request(
            method, self.base_url + path, body=body, headers=headers, redirect=False
        )
        for value in response.headers.getlist("Set-Cookie"):
            cookie = http.cookies.SimpleCookie(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return response

    def log_in(self, login_path: str, username: str, password: str) -> None:
        form = self.request("GET", login_path)
        assert form.status == 200, form.status
        token = re.search(
            rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.data
        ).group(1)
        response = self.request(
            "POST",
            login_path,
            fields={
                "csrfmiddlewaretoken": token.decode(),
                "username": username,
                "password": password,
            },
        )
        assert response.status == 302, f"login failed: {response.status}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-sets", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir:
        run(options.image_sets, options.rounds, Path(workdir))


def run(size: int, rounds: int, workdir: Path) -> None:
    from apps.emulator.server import EmulatorServer
    from tests.support.emulator import make_client, seed_archive

    emulator = EmulatorServer(str(workdir / "emulator.sqlite3"), update_delay=0).start()
    try:
        started = time.perf_counter()
        datastore_id, _ = seed_archive(emulator, size, name="bench", random_seed=size)
        print(f"seeded {size:,} image sets in {time.perf_counter() - started:.1f} s")
        portal_url, stop_portal = start_portal(emulator.url, workdir)
        try:
            client = make_client(emulator.url, attempts=3)
            measure(portal_url, client, datastore_id, rounds)
        finally:
            stop_portal()
    finally:
        emulator.stop()


def start_portal(emulator_url: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """The portal's real WSGI app under waitress, in a thread, on a free port."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "imaging_portal.settings",
            "PORTAL_VAR_DIR": str(workdir / "var"),
            "DATABASE_URL": f"sqlite:///{workdir / 'var' / 'portal.sqlite3'}",
            "HEALTHIMAGING_ENDPOINT_URL": emulator_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_HTTPS": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            # The bench's own pace, not a client's: the API's per-user limits stay out of it.
            "API_READ_RATE": "1000000 per minute",
            "API_RATE_LIMIT_STORAGE_URL": "memory://",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "DJANGO_ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user(username=USERNAME, password=PASSWORD)

    import waitress

    from imaging_portal.wsgi import application

    logging.getLogger("waitress").setLevel(logging.ERROR)
    server = waitress.create_server(application, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="portal", daemon=True)
    thread.start()

    def stop() -> None:
        # Worker threads first: closing the server under a busy worker breaks its trigger.
        server.task_dispatcher.shutdown(timeout=5)
        server.close()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.effective_port}", stop


def measure(portal_url: str, client: object, datastore_id: str, rounds: int) -> None:
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from django.utils import timezone

    from apps.accounts import tokens
    from apps.accounts.roles import VIEWER
    from apps.accounts.services import set_role
    from apps.healthimaging.criteria import SearchQuery, build_search_criteria

    portal = PortalSession(portal_url)
    portal.log_in(reverse("login"), USERNAME, PASSWORD)
    results_path = reverse("imagesets:image-set-list", args=[datastore_id])
    api_path = reverse("api:image-set-list", args=[datastore_id])
    user = get_user_model().objects.get(username=USERNAME)
    set_role(user, VIEWER)
    _, token = tokens.token_create(
        user=user, name="bench", expires_in_days=1, request=None
    )
    api = urllib3.PoolManager(maxsize=1, retries=False)

    # What a person would search for: patient IDs and a study date range from the archive.
    summaries = client.search_image_sets(
        datastoreId=datastore_id, maxResults=PAGE_SIZE
    )["imageSetsMetadataSummaries"]
    patient_ids = sorted({s["DICOMTags"]["DICOMPatientId"] for s in summaries})
    study_dates = sorted(
        datetime.date.fromisoformat(s["DICOMTags"]["DICOMStudyDate"])
        for s in summaries
        if s["DICOMTags"].get("DICOMStudyDate")
    )
    date_from, date_to = study_dates[len(study_dates) // 4], study_dates[-1]
    zone = timezone.get_default_timezone()

    def patient(n: int) -> str:
        return patient_ids[n % len(patient_ids)]

    cases: dict[str, tuple[Callable[[int], SearchQuery], Callable[[int], dict]]] = {
        "no criteria": (lambda _: SearchQuery(), lambda _: {}),
        "patient ID": (
            lambda n: SearchQuery(property="patient_id", value=patient(n)),
            lambda n: {"property": "patient_id", "value": patient(n)},
        ),
        "study date range": (
            lambda _: SearchQuery(
                property="study_date_time", date_from=date_from, date_to=date_to
            ),
            lambda _: {
                "property": "study_date_time",
                "date_from": date_from.isoformat(),
                "date_to": date_to.isoformat(),
            },
        ),
    }

    def portal_path(params: dict) -> str:
        query = urllib.parse.urlencode({**params, "page_size": PAGE_SIZE})
        return f"{results_path}?{query}"

    def portal_search(params: dict, *, target: str | None = "results") -> bytes:
        """GET the results page as htmx asks for it: a paging link swaps `#results`, the
        Search button `#search` (form and results); no target is a plain full page."""
        path = portal_path(params)
        headers = (
            {
                "HX-Request": "true",
                "HX-Target": target,
                "HX-Current-URL": portal_url + path,
            }
            if target
            else {}
        )
        response = portal.request("GET", path, headers=headers)
        assert response.status == 200, (response.status, response.data[:500])
        return response.data

    def api_search(params: dict) -> bytes:
        """The same search through the REST API, with a personal token."""
        query = urllib.parse.urlencode({**params, "page_size": PAGE_SIZE})
        response = api.request(
            "GET",
            f"{portal_url}{api_path}?{query}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 200, (response.status, response.data[:500])
        return response.data

    def boto3_search(query: SearchQuery) -> dict:
        return client.search_image_sets(
            datastoreId=datastore_id,
            searchCriteria=build_search_criteria(query, timezone=zone),
            maxResults=PAGE_SIZE,
        )

    rows = []
    api_rows = []
    try:
        for label, (make_query, make_params) in cases.items():
            found = len(boto3_search(make_query(0))["imageSetsMetadataSummaries"])
            sizes = [
                len(portal_search(make_params(0), target=target))
                for target in ("results", "search", None)
            ]
            assert b"<html" not in portal_search(make_params(0)), "not a fragment"
            portal_samples, boto3_samples = _paired_timings(
                lambda n, params=make_params: portal_search(params(n)),
                lambda n, query=make_query: boto3_search(query(n)),
                rounds,
            )
            api_samples, api_boto3_samples = _paired_timings(
                lambda n, params=make_params: api_search(params(n)),
                lambda n, query=make_query: boto3_search(query(n)),
                rounds,
            )
            rows.append((label, found, portal_samples, boto3_samples, sizes))
            api_rows.append((label, found, api_samples, api_boto3_samples))
    finally:
        portal.http.clear()  # close the keep-alive connections before the server stops
        api.clear()

    print()
    print(
        f"portal htmx results page vs the same SearchImageSets call with boto3; "
        f"{PAGE_SIZE} per page, {rounds} rounds after {WARMUP} warm-up, keep-alive both sides"
    )
    print(
        f"{'search':<17} {'rows':>4}  {'portal p50':>10} {'p95':>7}  {'boto3 p50':>9} "
        f"{'p95':>7}  {'p50 ratio':>9}  {'#results':>9} {'#search':>9} {'full page':>9}"
    )
    worst = 0.0
    for label, found, portal_samples, boto3_samples, sizes in rows:
        portal_p50 = _percentile(portal_samples, 0.5)
        boto3_p50 = _percentile(boto3_samples, 0.5)
        ratio = portal_p50 / boto3_p50
        worst = max(worst, ratio)
        print(
            f"{label:<17} {found:>4}  {portal_p50 * 1000:>8.2f}ms "
            f"{_percentile(portal_samples, 0.95) * 1000:>5.1f}ms  {boto3_p50 * 1000:>7.2f}ms "
            f"{_percentile(boto3_samples, 0.95) * 1000:>5.1f}ms  {ratio:>9.2f}  "
            + " ".join(f"{size:>8,}B" for size in sizes)
        )
    verdict = "within" if worst <= TARGET_RATIO else "above"
    print(f"worst p50 ratio {worst:.2f}, {verdict} the {TARGET_RATIO}x target")
    print()
    print(
        "REST API search (JSON, a personal token) vs the same SearchImageSets call with boto3"
    )
    print(
        f"{'search':<17} {'rows':>4}  {'API p50':>10} {'p95':>7}  {'boto3 p50':>9} "
        f"{'p95':>7}  {'p50 ratio':>9}"
    )
    for label, found, api_samples, boto3_samples in api_rows:
        api_p50 = _percentile(api_samples, 0.5)
        boto3_p50 = _percentile(boto3_samples, 0.5)
        print(
            f"{label:<17} {found:>4}  {api_p50 * 1000:>8.2f}ms "
            f"{_percentile(api_samples, 0.95) * 1000:>5.1f}ms  {boto3_p50 * 1000:>7.2f}ms "
            f"{_percentile(boto3_samples, 0.95) * 1000:>5.1f}ms  {api_p50 / boto3_p50:>9.2f}"
        )
    print(
        "sizes: #results is what a paging link swaps, #search what the Search button "
        "swaps (form and results), full page a plain GET of the same URL"
    )


if __name__ == "__main__":
    main()
