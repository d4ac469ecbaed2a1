"""S10: an injection corpus as patient names, study descriptions, reasons and user names,
rendered in every view that shows them, in a real browser.

The corpus goes in through the real edit form (so the rules accept each entry as a value)
and real failed sign-ins, and HealthImaging (the emulator) stores it. Chromium then opens
every view as an admin while the test records dialogs, console errors, CSP violations and
every request: no entry may run, load or fetch anything, and each must read as plain text.
"""

import dataclasses
import re
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.http import QueryDict
from django.urls import Resolver404, resolve, reverse
from playwright.sync_api import Page, expect

from apps.accounts.roles import ADMIN
from apps.edits.forms import COMMON_ATTRIBUTES
from apps.edits.models import MetadataEdit
from apps.edits.rules import value_text
from apps.healthimaging.gateway import get_gateway
from apps.imagesets.templatetags.dicom_display import person_name
from tests.e2e import conftest as e2e
from tests.support.edits import run_to_end
from tests.support.emulator import control, fresh_image_sets

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The e2e suite's own chromium (Debian's, never a download) and its page.
browser = e2e.browser
page = e2e.page

CORPUS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{% debug %}",
    'hx-get="/admin/" hx-trigger="load"',
    "javascript:alert(1)",
    "\u202eexe.gnp\u202c RTL override",
    "</textarea><script>alert(1)</script>",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    "<div hx-get=/admin/ hx-trigger=load>x</div>",
    "' onmouseover='alert(1)' x='",
    "<img src=/admin/ onerror=alert(1)>",
    "<a href=javascript:alert(1)>click</a>",
    "<meta http-equiv=refresh content=0;url=/admin/>",
    "<base href=//attacker.invalid/>",
    "${7*7} #{7*7} <%= 7*7 %>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<button hx-post=/admin/ hx-trigger=load>",
    '" autofocus onfocus="alert(1)',
]
# Four values per image set: two person names (at most three "="-separated groups each),
# two long strings (LO).
FIELDS = ("PatientName", "PatientID", "StudyDescription", "ReferringPhysicianName")
PERSON_NAMES = {"PatientName", "ReferringPhysicianName"}
REASON = " | ".join(CORPUS)
# Elements that only markup from the data could have made.
INJECTED = (
    "script:not([src]), iframe, svg, base, math, meta[http-equiv], img[src='x'],"
    " img[src='/admin/'], [onerror], [onload], [onmouseover], [onfocus],"
    " a[href^='javascript:'], [hx-get^='/admin'], [hx-post^='/admin'],"
    " [hx-trigger='load'], [x]"
)
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) =>
  window.reportViolation(`${event.violatedDirective} ${event.blockedURI}`));
"""
# Where the portal's own markup sends the browser.
OWN_NAMESPACES = {"imagesets", "edits", "history", "audit"}
OWN_VIEWS = {"core:home", "login"}


@dataclasses.dataclass
class Watch:
    """What the browser did while the views were open."""

    dialogs: list = dataclasses.field(default_factory=list)
    console_errors: list = dataclasses.field(default_factory=list)
    violations: list = dataclasses.field(default_factory=list)
    requests: list = dataclasses.field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("request", lambda request: self.requests.append(request.url))
        page.context.expose_function("reportViolation", self._violation)
        page.context.add_init_script(CSP_LISTENER)

    def _violation(self, description: str) -> None:
        self.violations.append(description)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        # The browser's own favicon probe is not the page's doing.
        if message.type == "error" and not message.location["url"].endswith(
            "/favicon.ico"
        ):
            self.console_errors.append(f"{message.text} at {message.location['url']}")


def unexpected(url: str, origin: str) -> bool:
    """A request the portal's own markup could not have caused."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin:
        return True
    if parts.path.startswith(settings.STATIC_URL) or parts.path == "/favicon.ico":
        return False
    try:
        match = resolve(parts.path)
    except Resolver404:
        return True
    return match.namespace not in OWN_NAMESPACES and match.view_name not in OWN_VIEWS


@dataclasses.dataclass(frozen=True)
class Corrupted:
    image_set_id: str
    values: dict  # keyword -> corpus entry
    edit: MetadataEdit


def corrupt(
    client, admin, datastore_id: str, image_set_id: str, values: dict
) -> Corrupted:
    """Put the values in through the real edit form, then run the edit to its end."""
    gateway = get_gateway()
    version = gateway.get_image_set(datastore_id, image_set_id).version
    document = gateway.get_image_set_metadata(datastore_id, image_set_id)
    post = QueryDict(mutable=True)
    post.update(
        {
            "base_version": str(version),
            "reason": REASON,
            "action": "queue",
            "rows-TOTAL_FORMS": "0",
            "rows-INITIAL_FORMS": "0",
        }
    )
    for field in COMMON_ATTRIBUTES:
        current = value_text(document[field.level]["DICOM"].get(field.keyword))
        post[field.name] = values.get(field.keyword, current)
    client.force_login(admin)
    response = client.post(
        reverse("edits:edit-form", args=[datastore_id, image_set_id]), post
    )
    assert response.status_code == 302, re.findall(
        r'class="form__error[^>]*>(.*?)</', response.content.decode(), re.S
    )
    edit = run_to_end(
        MetadataEdit.objects.filter(image_set_id=image_set_id).latest("created_at")
    )
    return Corrupted(image_set_id, values, edit)


def shown(value: str, keyword: str) -> str:
    """How a view that formats values shows this one."""
    return str(person_name(value)) if keyword in PERSON_NAMES else value


def test_injection_corpus_is_only_ever_text(
    page, live_server, healthimaging, scheduled, client, make_user, figure
):
    admin = make_user(ADMIN, password=e2e.PASSWORD)
    datastore_id, image_set_ids = fresh_image_sets(
        healthimaging, len(CORPUS) // len(FIELDS), name="injection-corpus"
    )
    corrupted = [
        corrupt(
            client,
            admin,
            datastore_id,
            image_set_id,
            dict(zip(FIELDS, CORPUS[index * len(FIELDS) :], strict=False)),
        )
        for index, image_set_id in enumerate(image_set_ids)
    ]
    assert all(item.edit.status == MetadataEdit.Status.SUCCEEDED for item in corrupted)
    # HealthImaging's own message is data too: the edit status and history show it.
    first = corrupted[0].image_set_id
    control(
        healthimaging.url,
        f"image-sets/{first}/fail-next-update",
        {"message": " ".join(CORPUS[:6])},
    )
    failed = corrupt(client, admin, datastore_id, first, {"PatientSex": "O"}).edit
    assert failed.status == MetadataEdit.Status.FAILED, failed.status
    client.logout()
    for entry in CORPUS:  # failed sign-ins keep the name tried, for the audit log
        client.post(reverse("login"), {"username": entry, "password": "wrong"})

    watch = Watch()
    watch.attach(page)
    page.goto("/")
    e2e.log_in(page, admin.username, e2e.PASSWORD)
    expect(page).to_have_url(re.compile(r"/datastores/$"))
    rendered: dict[str, list[str]] = {}  # view -> corpus entries it showed as text
    injected: list[tuple[str, int]] = []
    not_shown: list[tuple[str, str]] = []

    def look(view: str, expected: list[tuple[str, str]]) -> None:
        """Every expected value readable as text, and no element made of data."""
        text = page.evaluate(
            "() => document.body.textContent + [...document.querySelectorAll("
            "'input, textarea')].map((field) => field.value).join('\\n')"
        )
        found = page.locator(INJECTED).count()
        if found:
            injected.append((view, found))
        rendered.setdefault(view, []).extend(
            entry for entry, _ in expected if entry in CORPUS
        )
        not_shown.extend(
            (view, entry) for entry, as_shown in expected if as_shown not in text
        )

    search_url = reverse("imagesets:image-set-list", args=[datastore_id])
    in_results = [
        (item.values[keyword], shown(item.values[keyword], keyword))
        for item in corrupted
        for keyword in ("PatientName", "PatientID", "StudyDescription")
        if keyword in item.values
    ]
    page.goto(f"{search_url}?{urlencode({'page_size': 50})}")
    look("search results", in_results)
    with page.expect_response(lambda response: search_url in response.url):
        page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state("networkidle")  # the swap, and anything it would load
    look("search results (htmx)", in_results)
    page.goto(
        f"{search_url}?{urlencode({'property': 'patient_id', 'value': CORPUS[1]})}"
    )
    look("search form (reflected)", [(CORPUS[1], CORPUS[1])])

    for item in corrupted:
        raw = [(value, value) for value in item.values.values()]
        formatted = [
            (value, shown(value, keyword)) for keyword, value in item.values.items()
        ]
        reason = [(entry, entry) for entry in CORPUS]
        args = [datastore_id, item.image_set_id]
        page.goto(reverse("imagesets:image-set-detail", args=args))
        look("image set page (metadata tree)", raw)
        page.goto(reverse("edits:edit-form", args=args))
        look("edit form", raw)
        review_an_edit_of_every_value(page, item)
        look("edit review", raw + reason)
        page.goto(reverse("edits:edit-detail", args=[item.edit.pk]))
        look("edit page", reason)
        page.goto(reverse("history:version-list", args=args))
        look("history", reason)
        page.goto(
            reverse("history:compare", args=args)
            + "?"
            + urlencode({"from": 1, "to": 2})
        )
        look("diff", raw)
        page.goto(reverse("history:version-detail", args=[*args, 2]))
        look("version", formatted + reason)
        page.goto(reverse("history:revert", args=[*args, 1]))
        look("revert confirmation", raw)
    # HealthImaging's message pattern keeps no markup characters: it shows as stored.
    page.goto(reverse("edits:edit-status", args=[failed.pk]))
    look("edit status", [(failed.message, failed.message)])
    page.goto(reverse("audit:audit-log"))
    look("audit log", [(entry, entry) for entry in CORPUS])

    origin = live_server.url
    strays = [url for url in watch.requests if unexpected(url, origin)]
    pairs = sum(len(entries) for entries in rendered.values())
    figure("S10", "corpus entries", len(CORPUS))
    figure("S10", "views rendered", len(rendered))
    figure(
        "S10",
        "entry x view renderings shown as text",
        f"{pairs - len(not_shown)}/{pairs}",
    )
    figure("S10", "script executions (dialogs)", len(watch.dialogs))
    figure("S10", "elements made of data", sum(count for _, count in injected))
    figure("S10", "unexpected requests", len(strays))
    figure("S10", "CSP violations", len(watch.violations))
    figure("S10", "console errors", len(watch.console_errors))
    assert not not_shown, not_shown
    assert not watch.dialogs, watch.dialogs
    assert not injected, injected
    assert not strays, strays
    assert not watch.violations, watch.violations
    assert not watch.console_errors, watch.console_errors
    assert_the_watch_sees_an_injection(page, watch, origin)


def review_an_edit_of_every_value(page: Page, item: Corrupted) -> None:
    """From the edit form, whose fields hold the corpus: replace each entry and review, so
    the review shows every entry as a current value, and the reason."""
    by_keyword = {field.keyword: field.name for field in COMMON_ATTRIBUTES}
    for keyword in item.values:
        page.locator(f"[name='{by_keyword[keyword]}']").fill("REVIEWED")
    page.locator("[name='reason']").fill(REASON)
    page.get_by_role("button", name="Review", exact=True).click()
    expect(page.get_by_role("heading", name="Review your edit")).to_be_visible()


def assert_the_watch_sees_an_injection(page: Page, watch: Watch, origin: str) -> None:
    """Zeros mean something only if the watch sees a real one: markup put in by script
    makes a stray request and a CSP violation."""
    seen = len(watch.violations)
    with page.expect_request(lambda request: unexpected(request.url, origin)):
        page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', "
            "'<img src=x onerror=alert(1)>')"
        )
    for _ in range(100):  # the report comes back through the binding
        if len(watch.violations) > seen:
            break
        page.wait_for_timeout(50)
    assert len(watch.violations) > seen
    assert not watch.dialogs
