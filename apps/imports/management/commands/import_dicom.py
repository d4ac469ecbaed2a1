"""`manage.py import_dicom`: start a DICOM import job from the command line, as a user who may
(checked, validated and audited as the Start import form is), and optionally wait for it."""

import argparse
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import START_IMPORT
from apps.healthimaging import errors
from apps.imagesets.selectors import datastore_list
from apps.imports import selectors, services
from apps.imports.forms import StartImportForm, new_client_token


class Command(BaseCommand):
    help = (
        "Start a DICOM import job into a data store (named or by ID), as the Start import "
        "form does; --wait follows it until it ends."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--datastore", required=True, help="a data store's name or ID"
        )
        parser.add_argument(
            "--input", required=True, help="s3://BUCKET/PREFIX/ of the files"
        )
        parser.add_argument(
            "--output", required=True, help="s3://BUCKET/PREFIX/ for results"
        )
        parser.add_argument(
            "--role-arn", required=True, help="the data access role's ARN"
        )
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            help="the user starting it (audited)",
        )
        parser.add_argument("--job-name", default="")
        parser.add_argument(
            "--input-owner-account-id",
            default="",
            help="only when the input bucket belongs to another AWS account",
        )
        parser.add_argument(
            "--client-token",
            default="",
            help="the same token starts the same job once, however often it is sent "
            "(it also names the job when --job-name is not given)",
        )
        parser.add_argument(
            "--wait", type=float, default=0, help="seconds to wait for the job to end"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.has_perm(START_IMPORT):
            raise CommandError(f"{options['username']!r} may not start DICOM imports.")
        form = StartImportForm(
            {
                "job_name": options["job_name"],
                "input_s3_uri": options["input"],
                "output_s3_uri": options["output"],
                "data_access_role_arn": options["role_arn"],
                "input_owner_account_id": options["input_owner_account_id"],
                "client_token": options["client_token"] or new_client_token(),
            }
        )
        if not form.is_valid():
            raise CommandError(
                "; ".join(
                    f"{name}: {' '.join(problems)}"
                    for name, problems in form.errors.items()
                )
            )
        try:
            datastore_id = self._datastore_id(options["datastore"])
            started = services.import_job_start(
                user=user,
                request=None,
                datastore_id=datastore_id,
                **form.job_parameters(),
            )
        except (services.ImportRefused, errors.HealthImagingError) as problem:
            raise CommandError(str(problem)) from problem
        self.stdout.write(f"Import job {started.job_id} in data store {datastore_id}.")
        if options["wait"] > 0:
            self._follow(datastore_id, started.job_id, options["wait"])

    def _datastore_id(self, name_or_id: str) -> str:
        found = [
            datastore.datastore_id
            for datastore in datastore_list()
            if name_or_id in (datastore.name, datastore.datastore_id)
        ]
        if len(found) > 1:  # names need not be unique
            raise CommandError(
                f"{len(found)} data stores are named {name_or_id!r}: give its ID."
            )
        if not found:
            raise CommandError(f"No data store is named {name_or_id!r}.")
        return found[0]

    def _follow(self, datastore_id: str, job_id: str, seconds: float) -> None:
        """Wait for the job to end; anything but COMPLETED is a failed command."""
        deadline = time.monotonic() + seconds
        try:
            job = selectors.import_job_get(datastore_id=datastore_id, job_id=job_id)
            while job.is_active and time.monotonic() < deadline:
                time.sleep(1)
                job = selectors.import_job_get(datastore_id=datastore_id, job_id=job_id)
        except errors.HealthImagingError as problem:
            raise CommandError(str(problem)) from problem
        if job.is_active:
            raise CommandError(f"Import job {job_id} is still {job.status}.")
        if job.status != "COMPLETED":
            raise CommandError(
                f"Import job {job_id}: {job.status}. {job.message or ''}"
            )
        self.stdout.write(f"Import job {job_id}: {job.status}.")
