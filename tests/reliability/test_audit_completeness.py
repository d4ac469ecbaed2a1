"""S11: the audit trail under a mixed load holds exactly the events that happened.

Five clients at once (a viewer, an editor, an admin, a script with an API token, and someone
guessing passwords) drive a known mix over HTTP against the live server: sign-ins good and
bad (up to a lockout), searches, image set pages, metadata downloads, history, the edit form,
edits through the page and the API, reverts, and refused requests. The audit rows written
meanwhile must equal, by action (and outcome, where it is fixed), what the README says is audited, with nothing
missing and nothing twice; and every row must say who, what, when (UTC), where, on what
object, and with which outcome.
"""

import collections
import dataclasses
import datetime
import re
import threading
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from django.urls import reverse

from apps.accounts.roles import ADMIN, EDITOR, VIEWER
from apps.accounts.tokens import token_create
from apps.audit.models import AuditEvent
from apps.edits.forms import COMMON_ATTRIBUTES
from apps.edits.models import MetadataEdit
from apps.edits.rules import value_text
from apps.healthimaging.gateway import get_gateway
from tests.support.canary import PREFIX as CANARY
from tests.support.edits import change_behind_the_portals_back, run_to_end
from tests.support.emulator import fresh_image_sets

pytestmark = pytest.mark.django_db(transaction=True)

Action = AuditEvent.Action
PASSWORD = "correct-horse-battery-staple-42"
ROUNDS = 5  # each client runs its script this many times
TIMEOUT = 30
# Rows of a job's worker steps carry no address of their own: the edit's queued row has it.
WORKER_STEPS = {
    Action.EDIT_ACCEPTED.value,
    Action.EDIT_SUCCEEDED.value,
    Action.REVERT_ACCEPTED.value,
    Action.REVERT_SUCCEEDED.value,
}
# The action itself is the outcome of these: signed in, or not.
AUTH_ACTIONS = {
    Action.SIGNED_IN.value,
    Action.SIGNED_OUT.value,
    Action.SIGN_IN_FAILED.value,
    Action.ACCOUNT_LOCKED.value,
}
# Counted by action only: their outcome holds the search criteria and the count shown, or
# the request refused, which `missing_fields` checks are there.
BY_ACTION_ONLY = AUTH_ACTIONS | {Action.SEARCHED.value, Action.ACCESS_DENIED.value}
SEARCHED = [(Action.SEARCHED, "")]
REFUSED = [(Action.ACCESS_DENIED, "")]
EDIT_ROWS = [
    (Action.EDIT_QUEUED, "Queued"),
    (Action.EDIT_ACCEPTED, "Updating"),
    (Action.EDIT_SUCCEEDED, "Succeeded"),
]
REVERT_ROWS = [
    (Action.REVERT_QUEUED, "Queued (revert to version 1)"),
    (Action.REVERT_ACCEPTED, "Updating (revert to version 1)"),
    (Action.REVERT_SUCCEEDED, "Succeeded (revert to version 1)"),
]
# What the README's audit section leaves out: the version list and the audit log show no
# patient data, and a request without credentials reaches nothing.
UNAUDITED = {"history", "audit log", "API refused (401)"}
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclasses.dataclass
class Client:
    """One person (or script) at the portal: a session, what they did, and what the audit
    trail should say about it."""

    base: str
    session: requests.Session = dataclasses.field(default_factory=requests.Session)
    actions: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    expected: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    problems: list = dataclasses.field(default_factory=list)

    def do(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        status: int,
        audited: list[tuple[str, str]] = (),
        **kwargs: object,
    ) -> requests.Response:
        response = self.session.request(
            method, self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs
        )
        self.actions[kind] += 1
        if response.status_code != status:
            self.problems.append((kind, path, response.status_code))
        self.expected.update((str(action), outcome) for action, outcome in audited)
        return response

    def post_form(
        self, kind: str, path: str, data: dict, **kwargs
    ) -> requests.Response:
        """GET the form for its CSRF token, POST it (the GET is part of the action)."""
        page = self.session.get(self.base + path, timeout=TIMEOUT)
        token = _CSRF.search(page.text)
        data = {**data, "csrfmiddlewaretoken": token[1] if token else ""}
        return self.do(kind, "POST", path, data=data, **kwargs)

    def sign_in(self, username: str, *, ok: bool = True, locked: bool = False) -> None:
        audited = [(Action.SIGNED_IN if ok else Action.SIGN_IN_FAILED, "")]
        self.post_form(
            "sign-in ok" if ok else "sign-in failed",
            reverse("login"),
            {"username": username, "password": PASSWORD if ok else "wrong"},
            status=429 if locked else 302 if ok else 200,
            audited=audited,
        )

    def sign_out(self) -> None:
        # A page every role may open, for its CSRF token (a refused one would be audited).
        page = self.session.get(
            self.base + reverse("imagesets:datastore-list"), timeout=TIMEOUT
        )
        token = _CSRF.search(page.text)
        self.do(
            "sign-out",
            "POST",
            reverse("logout"),
            data={"csrfmiddlewaretoken": token[1] if token else ""},
            status=302,
            audited=[(Action.SIGNED_OUT, "")],
        )


@dataclasses.dataclass(frozen=True)
class World:
    browse: str  # a data store to read
    browsed: list  # image sets in it
    scratch: str  # a data store to change
    edited_by_page: list  # one image set per round
    prefilled: list  # the edit form's common fields for each, as the form shows them
    edited_by_api: list
    reverted: list  # image sets at version 2, one per round


def viewed(outcome: str) -> list[tuple[str, str]]:
    return [(Action.METADATA_VIEWED, outcome)]


def viewer_script(client: Client, world: World, round_: int) -> None:
    client.sign_in("viewer")
    store, image_set = world.browse, world.browsed[round_]
    search = reverse("imagesets:image-set-list", args=[store])
    client.do("search", "GET", search, status=200, audited=SEARCHED)
    client.do(
        "search (htmx)",
        "GET",
        f"{search}?{urlencode({'sort_by': 'created_at'})}",
        headers={"HX-Request": "true", "HX-Target": "results"},
        status=200,
        audited=SEARCHED,
    )
    detail = reverse("imagesets:image-set-detail", args=[store, image_set])
    client.do("image set page", "GET", detail, status=200, audited=viewed("Viewed"))
    client.do(
        "metadata download",
        "GET",
        reverse("imagesets:image-set-metadata", args=[store, image_set]),
        status=200,
        audited=viewed("Downloaded as JSON"),
    )
    client.do(
        "version page",
        "GET",
        reverse("history:version-detail", args=[store, image_set, 1]),
        status=200,
        audited=viewed("Viewed version 1"),
    )
    client.do(
        "history",
        "GET",
        reverse("history:version-list", args=[store, image_set]),
        status=200,
    )
    client.do(
        "refused (403)",
        "GET",
        reverse("edits:edit-form", args=[store, image_set]),
        status=403,
        audited=REFUSED,
    )
    client.sign_out()


def editor_script(client: Client, world: World, round_: int) -> None:
    client.sign_in("editor")
    store, image_set = world.scratch, world.edited_by_page[round_]
    form = reverse("edits:edit-form", args=[store, image_set])
    page = client.do(
        "edit form", "GET", form, status=200, audited=viewed("Opened the edit form")
    )
    fields = world.prefilled[round_]
    client.do(
        "edit queued (page)",
        "POST",
        form,
        data={
            **fields,
            "patient_name": f"{CANARY}AUDIT^ROUND{round_}",
            "base_version": "1",
            "reason": "Audit completeness run",
            "action": "queue",
            "rows-TOTAL_FORMS": "0",
            "rows-INITIAL_FORMS": "0",
            "csrfmiddlewaretoken": _CSRF.search(page.text)[1],
        },
        status=302,
        audited=EDIT_ROWS,
    )
    client.do(
        "compare",
        "GET",
        reverse("history:compare", args=[store, world.reverted[round_]])
        + "?from=1&to=2",
        status=200,
        audited=viewed("Compared version 1 with version 2"),
    )
    client.do(
        "refused (403)",
        "GET",
        reverse("audit:audit-log"),
        status=403,
        audited=REFUSED,
    )
    client.sign_out()


def admin_script(client: Client, world: World, round_: int) -> None:
    client.sign_in("admin")
    store, image_set = world.scratch, world.reverted[round_]
    revert = reverse("history:revert", args=[store, image_set, 1])
    page = client.do(
        "revert reviewed",
        "GET",
        revert,
        status=200,
        audited=viewed("Reviewed a revert to version 1"),
    )
    client.do(
        "revert queued",
        "POST",
        revert,
        data={
            "reason": "Audit completeness run",
            "base_version": "2",
            "csrfmiddlewaretoken": _CSRF.search(page.text)[1],
        },
        status=302,
        audited=REVERT_ROWS,
    )
    client.do("audit log", "GET", reverse("audit:audit-log"), status=200)
    client.sign_out()


def api_script(client: Client, world: World, round_: int, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    prefix = token.split("_")[1]
    via = f"through the API (token {prefix})"
    store = world.browse
    client.do(
        "API search",
        "GET",
        reverse("api:image-set-list", args=[store]),
        headers=auth,
        status=200,
        audited=SEARCHED,
    )
    client.do(
        "API metadata read",
        "GET",
        reverse("api:image-set-metadata", args=[store, world.browsed[round_]]),
        headers=auth,
        status=200,
        audited=viewed(f"Read {via}"),
    )
    client.do(
        "API diff",
        "GET",
        reverse("api:diff", args=[world.scratch, world.reverted[round_]])
        + "?from=1&to=2",
        headers=auth,
        status=200,
        audited=viewed(f"Compared versions {via}"),
    )
    client.do(
        "API edit queued",
        "POST",
        reverse("api:edit-create", args=[world.scratch, world.edited_by_api[round_]]),
        headers=auth,
        json={
            "reason": "Audit completeness run",
            "changes": [
                {"level": "Study", "attribute": "StudyDescription", "value": "AUDIT"}
            ],
        },
        status=202,
        audited=EDIT_ROWS,
    )
    client.do(
        "API refused (403)",
        "POST",
        reverse("api:revert-create", args=[world.scratch, world.reverted[round_]]),
        headers=auth,
        json={"revert_to_version": 1, "reason": "not mine to do"},
        status=403,
        audited=REFUSED,
    )
    client.do(
        "API refused (401)",
        "GET",
        reverse("api:datastore-list"),
        status=401,
    )


def guesser_script(client: Client, world: World, round_: int) -> None:
    """Wrong passwords: a few for a name, then one name past the lockout limit."""
    for _ in range(2):
        client.sign_in(f"mallory-{round_}", ok=False)
    if round_ == 0:
        limit = settings.AXES_FAILURE_LIMIT
        for attempt in range(1, limit + 2):
            # The failure that reaches the limit, and any after it, are answered 429.
            client.sign_in("locked-out", ok=False, locked=attempt >= limit)
        # Every attempt is a failed sign-in; the lock is one event, when it starts.
        client.expected[(Action.ACCOUNT_LOCKED.value, "")] += 1


@pytest.fixture
def world(healthimaging, browse_archive) -> World:
    scratch, image_sets = fresh_image_sets(healthimaging, 3 * ROUNDS, name="audit-load")
    reverted = image_sets[2 * ROUNDS :]
    for image_set_id in reverted:
        change_behind_the_portals_back(scratch, image_set_id)
    gateway = get_gateway()
    for image_set_id in reverted:
        assert gateway.get_image_set(scratch, image_set_id).version == 2
    browse, browsed = browse_archive
    prefilled = []
    for image_set_id in image_sets[:ROUNDS]:
        document = gateway.get_image_set_metadata(scratch, image_set_id)
        prefilled.append(
            {
                field.name: value_text(
                    document[field.level]["DICOM"].get(field.keyword)
                )
                for field in COMMON_ATTRIBUTES
            }
        )
    return World(
        browse=browse,
        browsed=browsed[:ROUNDS],
        scratch=scratch,
        edited_by_page=image_sets[:ROUNDS],
        prefilled=prefilled,
        edited_by_api=image_sets[ROUNDS : 2 * ROUNDS],
        reverted=reverted,
    )


def test_audit_rows_equal_the_events_of_a_mixed_load(
    live_server, world, scheduled, make_user, figure
):
    for role, name in ((VIEWER, "viewer"), (EDITOR, "editor"), (ADMIN, "admin")):
        make_user(role, username=name, password=PASSWORD)
    make_user(VIEWER, username="locked-out", password=PASSWORD)
    _, token = token_create(
        user=make_user(EDITOR, username="script"),
        name="audit run",
        expires_in_days=30,
        request=None,
    )
    before = set(AuditEvent.objects.values_list("id", flat=True))
    started = datetime.datetime.now(datetime.UTC)

    scripts: dict[str, Callable] = {
        "viewer": viewer_script,
        "editor": editor_script,
        "admin": admin_script,
        "api": lambda client, world_, round_: api_script(client, world_, round_, token),
        "guesser": guesser_script,
    }
    clients = {name: Client(live_server.url) for name in scripts}
    failures: list[BaseException] = []

    def run(name: str) -> None:
        try:
            for round_ in range(ROUNDS):
                scripts[name](clients[name], world, round_)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in scripts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    for edit_id in scheduled:  # the worker's steps, taken here
        assert run_to_end(MetadataEdit.objects.get(pk=edit_id)).status == "succeeded"

    rows = list(AuditEvent.objects.exclude(id__in=before).select_related("actor"))
    actual = collections.Counter(
        (row.action, "" if row.action in BY_ACTION_ONLY else row.outcome)
        for row in rows
    )
    expected = sum(
        (client.expected for client in clients.values()), collections.Counter()
    )
    actions = sum(
        (client.actions for client in clients.values()), collections.Counter()
    )
    problems = [problem for client in clients.values() for problem in client.problems]
    queued_from = {
        row.edit_id: row.ip_address
        for row in rows
        if row.action in (Action.EDIT_QUEUED, Action.REVERT_QUEUED)
    }
    incomplete = [row for row in rows if missing_fields(row, queued_from, started)]

    figure("S11", "actions driven (5 clients at once)", sum(actions.values()))
    figure(
        "S11",
        "actions audited by none (history list, audit log, 401)",
        sum(n for kind, n in actions.items() if kind in UNAUDITED),
    )
    figure(
        "S11",
        "audit rows: expected / actual",
        f"{sum(expected.values())} / {sum(actual.values())}",
    )
    for action in sorted({key[0] for key in expected | actual}):
        want = sum(n for (name, _), n in expected.items() if name == action)
        got = sum(n for (name, _), n in actual.items() if name == action)
        figure("S11", f"audit rows {action}: expected / actual", f"{want} / {got}")
    figure(
        "S11",
        "rows with who, what, when (UTC), where, object, outcome",
        f"{len(rows) - len(incomplete)}/{len(rows)}",
    )
    assert not problems, problems
    assert actual == expected, {
        "missing": expected - actual,
        "unexpected": actual - expected,
    }
    assert not incomplete, [
        (row.action, missing_fields(row, queued_from, started)) for row in incomplete
    ]


def missing_fields(
    row: AuditEvent, queued_from: dict, started: datetime.datetime
) -> list[str]:
    """The fields the row lacks, of who / what / when (UTC) / where / object / outcome."""
    missing = []
    if row.actor is None and not row.username:
        missing.append("who")
    if row.action not in Action.values:
        missing.append("what")
    if row.at.utcoffset() != datetime.timedelta(0) or row.at < started:
        missing.append("when")
    where = (
        queued_from.get(row.edit_id) if row.action in WORKER_STEPS else row.ip_address
    )
    if not where:
        missing.append("where")
    if row.action == Action.SEARCHED:
        if not (row.datastore_id and row.outcome.startswith("Searched")):
            missing.append("object or criteria")
    elif row.action == Action.ACCESS_DENIED:
        if " /" not in row.outcome:
            missing.append("the request refused")
    elif row.action not in AUTH_ACTIONS:
        if not (row.datastore_id and row.image_set_id):
            missing.append("object")
        if row.action != Action.METADATA_VIEWED and row.edit_id is None:
            missing.append("object (edit)")
        if not row.outcome:
            missing.append("outcome")
    return missing
