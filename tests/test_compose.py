"""docker-compose.yml: every project command it runs exists, and the pieces fit.

No Docker engine here, so this reads the file as compose does (YAML with merge keys)
and checks each command against the project itself.
"""

import importlib
import shlex
from pathlib import Path

import pytest
import yaml
from celery import Celery
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROJECT_SERVICES = sorted(name for name, spec in SERVICES.items() if "build" in spec)
ONE_SHOT = {name for name, spec in SERVICES.items() if spec.get("restart") == "no"}


def argv(service):
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_runs_the_pieces_of_the_design():
    assert {"web", "worker", "beat", "redis", "emulator", "postgres"} <= set(SERVICES)
    assert SERVICES["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("service", PROJECT_SERVICES)
def test_compose_project_service_builds_from_a_dockerfile_in_the_project(service):
    build = SERVICES[service]["build"]

    assert build["context"] == "."
    assert (ROOT / build["dockerfile"]).is_file()


@pytest.mark.parametrize("service", PROJECT_SERVICES)
def test_compose_project_service_runs_something_that_exists(service):
    command = argv(service)

    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), f"no manage.py command {command[2]!r}"
    elif command[0] == "gunicorn":
        module, _, attribute = command[1].partition(":")
        assert callable(
            getattr(importlib.import_module(module), attribute or "application")
        )
    elif command[0] == "celery":
        app = importlib.import_module(command[command.index("-A") + 1])
        assert isinstance(app.celery_app, Celery)
    else:
        pytest.fail(f"{service} runs {command[0]!r}, which this test does not know")


@pytest.mark.parametrize("service", sorted(set(SERVICES) - ONE_SHOT))
def test_compose_long_running_service_has_a_healthcheck(service):
    assert SERVICES[service]["healthcheck"]["test"]


def test_compose_declares_every_named_volume_it_mounts():
    mounted = {
        volume.split(":")[0]
        for spec in SERVICES.values()
        for volume in spec.get("volumes", [])
    }

    assert mounted == set(COMPOSE["volumes"])


def test_compose_points_the_portal_at_the_emulator_it_runs():
    emulator = argv("emulator")
    port = emulator[emulator.index("--addr") + 1].rpartition(":")[2]

    for service in ("web", "worker", "beat"):
        url = SERVICES[service]["environment"]["HEALTHIMAGING_ENDPOINT_URL"]
        assert url == f"http://emulator:{port}"


def test_compose_emulator_serves_the_state_the_seed_job_wrote():
    seed, serve = argv("emulator-seed"), argv("emulator")

    assert seed[seed.index("--state") + 1] == serve[serve.index("--state") + 1]
    assert SERVICES["emulator-seed"]["volumes"] == SERVICES["emulator"]["volumes"]
