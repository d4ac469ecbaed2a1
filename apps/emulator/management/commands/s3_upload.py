"""`manage.py s3_upload`: put local files into the emulator's stand-in for S3, ready to import."""

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.emulator import s3


class Command(BaseCommand):
    help = (
        "Copy files or folders to s3://BUCKET/PREFIX/ in the emulator's local S3 folder, "
        "where StartDICOMImportJob reads them; the output bucket is created too if named."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--state", required=True, help="the emulator's SQLite state file"
        )
        parser.add_argument(
            "--s3-root",
            default=None,
            help="the emulator's --s3-root (default: the folder s3 beside the state file)",
        )
        parser.add_argument(
            "--create-bucket",
            action="append",
            default=[],
            metavar="BUCKET",
            help="also create this (empty) bucket, e.g. for the job's output; repeatable",
        )
        parser.add_argument("sources", nargs="+", help="files or folders to copy")
        parser.add_argument("destination", help="s3://BUCKET/PREFIX/")

    def handle(self, *args: Any, **options: Any) -> None:
        root = options["s3_root"] or s3.default_root(options["state"])
        try:
            s3.split_uri(options["destination"])
            for bucket in options["create_bucket"]:
                s3.split_uri(f"s3://{bucket}")
        except ValueError as error:
            raise CommandError(str(error)) from error
        keys: list[str] = []
        for source in options["sources"]:
            if not Path(source).exists():
                raise CommandError(f"No such file or folder: {source}")
            keys += s3.upload_tree(root, source, options["destination"])
        for bucket in options["create_bucket"]:
            s3.create_bucket(root, bucket)
        noun = "file" if len(keys) == 1 else "files"
        self.stdout.write(
            f"{len(keys)} {noun} copied to {options['destination']} (S3 root: {root})"
        )
