"""`manage.py seed_demo`: fill an emulator state file with a realistic synthetic archive."""

import argparse
import hashlib
from typing import Any

from django.core.management.base import BaseCommand

from apps.emulator.seed import generate_image_sets
from apps.emulator.state import Store

DEMO_DATASTORE = "demo"
SECOND_DATASTORE = "teaching-files"


def _datastore_id(name: str, random_seed: int) -> str:
    # Stable IDs make a reseeded demo keep its bookmarks.
    return hashlib.sha256(f"{random_seed}:{name}".encode()).hexdigest()[:32]


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


class Command(BaseCommand):
    help = "Create the demo data stores and image sets in an emulator state file, if absent."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--state", required=True, help="the emulator's SQLite state file"
        )
        parser.add_argument(
            "--image-sets",
            type=_positive,
            default=500,
            help="image sets in all: nine in ten in `demo`, the rest in `teaching-files`",
        )
        parser.add_argument(
            "--random-seed", type=int, default=7, help="seed of the archive"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store(options["state"])
        count = options["image_sets"]
        seed = options["random_seed"]
        # The second, smaller data store makes the data store list worth a look.
        teaching = max(count // 10, 1)
        sizes = (
            (DEMO_DATASTORE, max(count - teaching, 1)),
            (SECOND_DATASTORE, teaching),
        )
        for offset, (name, size) in enumerate(sizes):
            existing = store.find_datastore(name)
            if existing:
                self.stdout.write(
                    f"Data store {name} exists ({existing['id']}); left as it is."
                )
                continue
            datastore_id = _datastore_id(name, seed)
            store.create_datastore(
                name=name,
                client_token=f"seed-{datastore_id}",
                status="ACTIVE",
                datastore_id=datastore_id,
            )
            added = store.add_seed_image_sets(
                datastore_id,
                generate_image_sets(
                    size, datastore_id=datastore_id, random_seed=seed + offset
                ),
            )
            self.stdout.write(
                f"Data store {name} ({datastore_id}): {added} image sets."
            )
        store.close()
