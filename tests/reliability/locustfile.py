"""S15's load: signed-in staff searching, opening image sets and queueing edits, with locust.

Run by tests/reliability/test_load.py as `locust --headless` in a process of its own (gevent
monkey-patches everything it imports, which the test process, with its emulator threads and
database connections, must not be). The plan (accounts, image sets, where to write the
samples) comes as a JSON file named by LOAD_PLAN. Every request's name, status and time is
written there at the end, with when the last user had started and how each edit submission
ended, for the test to judge.
"""

import html.parser
import itertools
import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

from locust import FastHttpUser, between, events, task

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
SEARCH, FRAGMENT, IMAGE_SET, EDIT_FORM, EDIT = (
    "search page",
    "search results fragment (htmx)",
    "image set page",
    "edit form",
    "edit submission",
)
IN_PROGRESS = "already has an edit in progress"

samples: list[tuple[str, float, int, float, bool]] = []
edit_outcomes: Counter[str] = Counter()
spawned: dict[str, float] = {}
# Each edit goes to the next fresh image set; past the last, round again (and may be refused).
edit_targets = itertools.cycle(PLAN["edit"]["image_set_ids"])
edit_numbers = itertools.count(1)


@events.request.add_listener
def record(
    name: str,
    response_time: float,
    response: object,
    start_time: float,
    exception: BaseException | None,
    **_: object,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    samples.append((name, response_time, status, start_time, exception is not None))


@events.spawning_complete.add_listener
def all_users_started(**_: object) -> None:
    spawned.setdefault("at", time.time())


@events.quitting.add_listener
def write_samples(**_: object) -> None:
    Path(PLAN["samples"]).write_text(
        json.dumps(
            {"samples": samples, "edit_outcomes": edit_outcomes, "spawned": spawned}
        )
    )


class FormFields(html.parser.HTMLParser):
    """What a browser would submit for a page's first form: inputs (checked boxes only),
    textareas and each select's selected option, buttons left out."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {key: value or "" for key, value in attrs}
        name = attributes.get("name")
        kind = attributes.get("type", "text")
        if tag == "input" and name and kind not in {"submit", "button"}:
            if kind not in {"checkbox", "radio"} or "checked" in attributes:
                self.fields[name] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif (  # a select's value: its first option until one says it is selected
            tag == "option"
            and self._select
            and (self._select not in self.fields or "selected" in attributes)
        ):
            self.fields[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data.removeprefix("\n")


class Viewer(FastHttpUser):
    """Searches a patient's image sets (the page, then htmx's fragment) and opens some."""

    weight = PLAN["weights"]["viewer"]
    wait_time = between(0.5, 2)
    accounts = PLAN["accounts"]["viewer"]

    def on_start(self) -> None:
        username = random.choice(self.accounts)
        form = self.client.get("/login/", name="sign-in form")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
        with self.client.post(
            "/login/",
            data={
                "csrfmiddlewaretoken": token,
                "username": username,
                "password": PLAN["password"],
            },
            name="sign in",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"sign-in as {username}: {answer.status_code}")

    def search_path(self) -> str:
        browse = PLAN["browse"]
        query = (
            f"?property=patient_id&value={random.choice(browse['patient_ids'])}"
            if random.random() < 0.7
            else ""
        )
        return f"/datastores/{browse['datastore_id']}/{query}"

    @task(3)
    def search_page(self) -> None:
        # No redirects followed: a signed-out user's sign-in page must not pass for results.
        self.client.get(self.search_path(), name=SEARCH, allow_redirects=False)

    @task(3)
    def search_results_fragment(self) -> None:
        path = self.search_path()
        self.client.get(
            path,
            name=FRAGMENT,
            allow_redirects=False,
            headers={
                "HX-Request": "true",
                "HX-Target": "results",
                "HX-Current-URL": self.host + path,
            },
        )

    @task(2)
    def image_set_page(self) -> None:
        browse = PLAN["browse"]
        image_set_id = random.choice(browse["image_set_ids"])
        self.client.get(
            f"/datastores/{browse['datastore_id']}/image-sets/{image_set_id}/",
            name=IMAGE_SET,
            allow_redirects=False,
        )


class Editor(Viewer):
    """Browses like a viewer, and corrects a patient name on a fresh image set."""

    weight = PLAN["weights"]["editor"]
    accounts = PLAN["accounts"]["editor"]

    @task(2)
    def correct_a_patient_name(self) -> None:
        image_set_path = f"/datastores/{PLAN['edit']['datastore_id']}/image-sets/{next(edit_targets)}/"
        form = self.client.get(image_set_path + "edit/", name=EDIT_FORM)
        if form.status_code != 200:
            return
        parser = FormFields()
        parser.feed(form.text)
        fields = parser.fields | {
            "patient_name": f"{PLAN['canary']}LOAD^EDIT^{next(edit_numbers)}",
            "reason": "Name misspelled at registration",
            "action": "queue",
        }
        with self.client.post(
            image_set_path + "edit/",
            data=fields,
            name=EDIT,
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code == 302:
                edit_outcomes["accepted"] += 1
            elif answer.status_code == 200 and IN_PROGRESS in answer.text:
                # The page's answer to a second edit of a busy image set (the API's 409).
                edit_outcomes["refused: edit in progress"] += 1
                answer.success()
            else:
                edit_outcomes[f"other: {answer.status_code}"] += 1
                answer.failure(f"edit not queued: {answer.status_code}")
