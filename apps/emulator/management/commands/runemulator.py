"""`manage.py runemulator`: serve the local HealthImaging emulator until stopped."""

import argparse
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.emulator.server import EmulatorServer


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host, int(port)


def _delay(value: str) -> float:
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("the delay can not be negative")
    return seconds


class Command(BaseCommand):
    help = (
        "Serve the HealthImaging emulator (rest-json, as boto3 and the AWS CLI expect)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--addr", type=_address, default=("127.0.0.1", 8765), help="HOST:PORT"
        )
        parser.add_argument(
            "--state", required=True, help="SQLite file holding the state"
        )
        parser.add_argument(
            "--update-delay",
            type=_delay,
            default=2.0,
            help="seconds an image set stays LOCKED after a write (default 2, 0 allowed)",
        )
        parser.add_argument(
            "--import-delay",
            type=_delay,
            default=None,
            help="seconds a DICOM import job stays SUBMITTED, then at least IN_PROGRESS "
            "(default: the update delay)",
        )
        parser.add_argument(
            "--s3-root",
            default=None,
            help="folder standing in for S3: s3://BUCKET/KEY is S3_ROOT/BUCKET/KEY "
            "(default: the folder s3 beside the state file)",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="apply the 2025 primary image set restrictions to updates",
        )
        parser.add_argument(
            "--throttle",
            action="store_true",
            help="throttle each operation at its documented rate (a test knob, off by default)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["addr"]
        try:
            server = EmulatorServer(
                options["state"],
                host=host,
                port=port,
                update_delay=options["update_delay"],
                strict=options["strict"],
                throttling=options["throttle"],
                s3_root=options["s3_root"],
                import_delay=options["import_delay"],
            )
        except OSError as error:
            raise CommandError(f"Can not listen on {host}:{port}: {error}") from error
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: server.stop())
        self.stdout.write(
            f"HealthImaging emulator listening on {server.url} (state: {options['state']}, "
            f"S3 root: {server.store.s3_root})"
        )
        server.serve_forever()
