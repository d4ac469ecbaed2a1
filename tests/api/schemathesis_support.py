"""Run schemathesis against the portal's API the way `st run` does, in this process, and sum
up what it did: operations, test cases, responses, failures and errors.

The run goes through schemathesis' engine (the one behind `st run`) with a configuration in
the shape of `schemathesis.toml`, so every knob used here is a documented one. One check of
our own narrows what `positive_data_acceptance` lets through (see `RULE_OPERATIONS`).
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.engine.statistic import Statistic

# Operations whose valid-looking requests may be refused with a 400 by a rule that no
# OpenAPI schema can state, one that ties parameters to each other or to what is stored
# now: each with its rules, so a reader can judge the allowance.
RULE_OPERATIONS = {
    "image_sets_search": "`value` must suit `property` (required for an identifier, "
    "digits and periods for a UID); a date property needs a range, and a range must not "
    "run backwards; `next_token` only continues the search that made it.",
    "image_sets_diff": "`from` and `to` must be two different versions the image set has.",
    "audit_events_list": "`end` must not be before `start`.",
    "audit_events_export": "`end` must not be before `start`.",
    "edits_create": "Each change must obey DICOM's and HealthImaging's rules for its "
    "level, attribute, VR and value (the edit form's checks); `base_version` must be a "
    "version the image set has.",
    "edits_reapply": "The edit's changes, rebased on the latest version, may break those "
    "rules, or no longer change anything.",
    "import_jobs_list": "`next_token` only continues the listing that made it.",
    "import_jobs_start": "Each value must match the service's own pattern and length, "
    "counted in UTF-16 units and with Java's `.` (which also refuses U+0085), as the "
    "service counts and matches them.",
}
RULE_STATUS = 400
# How a field's own type check words a refusal (Django's and DRF's messages). A value the
# schema calls valid that one of these refuses means the schema misdescribes the field:
# that is never a rule, wherever it happens.
FIELD_TYPE_MESSAGES = (
    "Enter a valid",
    "Enter an ID",
    "Select a valid choice",
    "Ensure this",
    "This field",
    "This value does not match",
    "A valid",
    "Must be a valid",
    "Not a valid",
    "Expected a",
    "Invalid data",
    "Null characters are not allowed",
    "Surrogate characters are not allowed",
)


@schemathesis.check
def rule_refusals_only(
    ctx: schemathesis.CheckContext,
    response: schemathesis.Response,
    case: schemathesis.Case,
) -> None:
    """A valid-looking request to a `RULE_OPERATIONS` operation refused with 400 must be
    refused by one of its rules: with `invalid` or `edit_refused`, and never in the words
    of a field's type check."""
    meta = case.meta
    operation_id = case.operation.definition.raw.get("operationId")
    if (
        meta is None
        or not meta.generation.mode.is_positive
        or operation_id not in RULE_OPERATIONS
        or response.status_code != RULE_STATUS
    ):
        return
    body = response.json()
    assert body["code"] in {"invalid", "edit_refused"}, (
        f"a valid request refused with {body['code']!r}, which is no rule's code"
    )
    wrong = [
        text
        for text in _messages(body.get("fields") or body["message"])
        if text.startswith(FIELD_TYPE_MESSAGES) or " is not a valid choice" in text
    ]
    assert not wrong, f"a valid request refused by a field's type check: {wrong}"


def _messages(detail: object) -> Iterator[str]:
    if isinstance(detail, str):
        yield detail
    elif isinstance(detail, dict):
        for value in detail.values():
            yield from _messages(value)
    elif isinstance(detail, list):
        for value in detail:
            yield from _messages(value)


@dataclass
class RunResult:
    """What one run did, and what went wrong."""

    operations: set[str] = field(default_factory=set)
    cases: int = 0
    cases_by_phase: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    # The operation's own method only (not the probes with others).
    statuses_by_operation: dict[str, Counter] = field(default_factory=dict)
    checks: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    running_time: float = 0.0

    def summary(self) -> str:
        phases = ", ".join(
            f"{n} {name}" for name, n in sorted(self.cases_by_phase.items())
        )
        statuses = ", ".join(
            f"{code}: {n}" for code, n in sorted(self.statuses.items())
        )
        return (
            f"{len(self.operations)} operations, {self.cases} test cases ({phases}) "
            f"in {self.running_time:.1f} s; {len(self.checks)} checks ran; "
            f"responses {statuses}; {len(self.failures)} failures, "
            f"{len(self.errors)} errors"
        )

    def report(self) -> str:
        return "\n\n".join([self.summary(), *self.failures, *self.errors])


def load_schema(
    url: str, *, headers: dict[str, str], config: dict
) -> schemathesis.BaseSchema:
    """The schema as the API serves it to this client, to be run with `config`."""
    return schemathesis.openapi.from_url(
        url, config=SchemathesisConfig.from_dict(config), headers=headers, timeout=30
    )


def run(schema: schemathesis.BaseSchema) -> RunResult:
    """Every enabled phase against every operation; failures as schemathesis words them."""
    result = RunResult()
    statistic = Statistic()
    stream = from_schema(schema).execute()
    try:
        for event in stream:
            if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
                statistic.on_scenario_finished(event.recorder)
                _count(result, event)
            elif isinstance(event, events.NonFatalError):
                result.errors.append(f"{event.label}: {event.info.format()}")
            elif isinstance(event, events.FatalError):
                result.errors.append(f"Fatal: {event.exception!r}")
            elif isinstance(event, events.EngineFinished):
                result.running_time = event.running_time
                if event.failures:
                    statistic.record_run_check_failures(event.failures, label="Run")
    finally:
        stream.stop()
    for label, groups in sorted(statistic.failures.items()):
        for index, group in enumerate(groups.values(), start=1):
            text = group.format(
                index=index, curl=group.code_sample, config=schema.config.output
            )
            result.failures.append(f"{label}\n{text}")
    return result


def _count(result: RunResult, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    result.cases += len(recorder.cases)
    result.cases_by_phase[event.phase.value] += len(recorder.cases)
    result.operations.update(
        node.value.operation.label for node in recorder.cases.values()
    )
    result.checks.update(
        check.name for checks in recorder.checks.values() for check in checks
    )
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is None:
            continue
        code = interaction.response.status_code
        result.statuses[code] += 1
        operation = recorder.cases[case_id].value.operation
        # Only the operation's own method: not the probes with methods it does not have.
        if interaction.request.method.upper() == operation.method.upper():
            by_operation = result.statuses_by_operation.setdefault(
                operation.label, Counter()
            )
            by_operation[code] += 1
