"""Serving the emulator: a multi-threaded waitress server, in the foreground or in a thread,
with the import runner that works off DICOM import jobs beside it."""

import threading

from waitress import wasyncore
from waitress.server import create_server

from apps.emulator.imports import ImportRunner
from apps.emulator.state import Store
from apps.emulator.wire import EmulatorApp, Throttle

# How often the serving loop looks at its stop flag.
_POLL_SECONDS = 0.2


class EmulatorServer:
    """An emulator listening on `host:port` (port 0 picks a free one).

    `s3_root` is the folder standing in for S3 (default: `s3` beside the state file);
    `import_delay` the seconds an import job stays SUBMITTED and then at least IN_PROGRESS
    (default: the update delay).
    """

    def __init__(
        self,
        state_path: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        update_delay: float = 2.0,
        strict: bool = False,
        throttling: bool = False,
        validate_responses: bool = False,
        # Enough for a few held (lost) responses to leave threads for everything else.
        threads: int = 8,
        s3_root: str | None = None,
        import_delay: float | None = None,
    ) -> None:
        self.store = Store(
            state_path,
            update_delay=update_delay,
            strict=strict,
            s3_root=s3_root,
            import_delay=import_delay,
        )
        self.imports = ImportRunner(self.store)
        self.app = EmulatorApp(
            self.store,
            throttle=Throttle(throttling),
            validate_responses=validate_responses,
        )
        self._server = create_server(
            self.app,
            host=host,
            port=port,
            threads=threads,
            ident="healthimaging-emulator",
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        """Serve until `stop()`; sockets are closed by this same thread, never under its feet."""
        self.imports.start()
        try:
            while not self._stopping.is_set():
                wasyncore.loop(
                    timeout=_POLL_SECONDS, map=self._server._map, use_poll=True, count=1
                )
        finally:
            # Held (lost) responses first: the dispatcher waits for its busy threads.
            self.app.close()
            self.imports.stop()
            self._server.task_dispatcher.shutdown()
            for channel in list(self._server._map.values()):
                channel.close()
            self.store.close()

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(
            target=self.serve_forever, name="emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the serving loop to finish; waits for it when it runs in a thread of ours."""
        self._stopping.set()
        self.app.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
