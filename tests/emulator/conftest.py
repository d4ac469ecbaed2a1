"""Fixtures that run the emulator as a real HTTP server on 127.0.0.1 and talk to it with boto3."""

from collections.abc import Callable, Iterator

import pytest

from apps.emulator.server import EmulatorServer
from tests.support.emulator import make_client, seed_archive


@pytest.fixture
def state_path(tmp_path) -> str:
    return str(tmp_path / "emulator.sqlite3")


@pytest.fixture
def start_emulator(state_path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators on free ports; every response is checked against the model."""
    started: list[EmulatorServer] = []

    def start(**options: object) -> EmulatorServer:
        options = {"update_delay": 0, "validate_responses": True, **options}
        server = EmulatorServer(state_path, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def emulator(start_emulator) -> EmulatorServer:
    return start_emulator()


@pytest.fixture
def client(emulator):
    return make_client(emulator.url)


@pytest.fixture
def seed_datastore(emulator) -> Callable[..., str]:
    """Create an ACTIVE data store holding `count` generated image sets; returns its ID."""

    def seed(
        count: int = 20, *, name: str = "conformance", random_seed: int = 3
    ) -> str:
        return seed_archive(emulator, count, name=name, random_seed=random_seed)[0]

    return seed
