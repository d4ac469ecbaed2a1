"""Figures that reliability and security tests report, gathered into one table.

A test asks for the `figure` fixture and records what it measured against the case it proves
(ids from the reliability research: R1, S2, ...). At the end of the run the table is printed
in the terminal summary and written as Markdown and JSON to `var/reliability/`, which is
where the README's "Reliability" table is copied from. The figures of a test that failed are
marked so.
"""

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = PROJECT_ROOT / "var" / "reliability"

_key = pytest.StashKey[list["Figure"]]()
_failed_key = pytest.StashKey[set[str]]()


@dataclass(frozen=True)
class Figure:
    case: str
    name: str
    value: str
    test: str


def _case_order(case: str) -> tuple[str, int, str]:
    """R2 before R10, and "R10/R12" with R10."""
    first = re.match(r"([A-Z]+)(\d+)", case)
    return (first[1], int(first[2]), case) if first else (case, 0, case)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_key] = []
    config.stash[_failed_key] = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        item.config.stash[_failed_key].add(item.nodeid)
    return report


@pytest.fixture
def figure(request) -> Callable[[str, str, object], None]:
    """Record a measured figure: figure("R1", "edits terminal", "100/100")."""
    figures = request.config.stash[_key]

    def record(case: str, name: str, value: object) -> None:
        figures.append(Figure(case, name, str(value), request.node.nodeid))

    return record


def markdown(figures: list[Figure]) -> str:
    rows = ["| Case | Figure | Value |", "|---|---|---|"]
    rows += [
        f"| {item.case} | {item.name} | {item.value} |"
        for item in sorted(figures, key=lambda item: _case_order(item.case))
    ]
    return "\n".join(rows) + "\n"


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    failed = config.stash.get(_failed_key, set())
    # A failed test's figures are no proof: they stay, marked, so the failure is not hidden.
    figures = [
        item
        if item.test not in failed
        else replace(item, value=f"{item.value} (TEST FAILED)")
        for item in config.stash.get(_key, [])
    ]
    if not figures:
        return
    table = markdown(figures)
    terminalreporter.section("reliability and security figures")
    terminalreporter.write(table)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUTPUT_DIR / "figures.md").write_text(table)
    (OUTPUT_DIR / "figures.json").write_text(
        json.dumps([asdict(item) for item in figures], indent=2) + "\n"
    )
