"""Benchmark: is a search page as cheap as a trivial request, however large the archive?

Seeds 10,000 and 100,000 image sets, then times a 50-result search page (no criteria, patient
ID EQUAL, updatedAt BETWEEN) against GetDatastore, and prints each search's p50 and p95 divided
by GetDatastore's p50. Two clients: boto3 (what the portal feels, including botocore's parsing of
50 summaries) and raw keep-alive HTTP (the emulator's own cost). An indexed search stays within a
small constant of that ratio as the archive grows; a scan would grow with it.

Run: `make bench` (or `python -m tests.bench.emulator_search [--sizes 10000 100000]`).
"""

import argparse
import datetime
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import urllib3
from botocore.config import Config

from apps.emulator.seed import generate_image_sets
from apps.emulator.server import EmulatorServer

ROUNDS = 300
# The emulator wants a SigV4-shaped header; it does not check signatures.
RAW_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/medical-imaging/aws4_request",
    "Content-Type": "application/json",
}
WARMUP = 30
TARGET_RATIO = 3.0


def _timings(call: Callable[[int], object], rounds: int) -> list[float]:
    for round_number in range(WARMUP):
        call(round_number)
    samples = []
    for round_number in range(rounds):
        started = time.perf_counter()
        call(round_number)
        samples.append(time.perf_counter() - started)
    return samples


def _percentile(samples: list[float], fraction: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[
        round(fraction * 100) - 1
    ]


def bench_size(
    size: int, rounds: int, workdir: Path
) -> list[tuple[str, str, float, float]]:
    server = EmulatorServer(
        str(workdir / f"bench-{size}.sqlite3"), update_delay=0
    ).start()
    try:
        datastore = server.store.create_datastore(
            name=f"bench-{size}", client_token=f"bench-{size}", status="ACTIVE"
        )
        datastore_id = datastore["id"]
        started = time.perf_counter()
        server.store.add_seed_image_sets(
            datastore_id,
            generate_image_sets(size, datastore_id=datastore_id, random_seed=size),
        )
        print(f"  seeded {size:,} image sets in {time.perf_counter() - started:.1f} s")
        client = boto3.client(
            "medical-imaging",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(inject_host_prefix=False, retries={"mode": "standard"}),
        )
        sample = client.search_image_sets(datastoreId=datastore_id, maxResults=50)
        patient_ids = sorted(
            {
                summary["DICOMTags"]["DICOMPatientId"]
                for page in client.get_paginator("search_image_sets").paginate(
                    datastoreId=datastore_id, PaginationConfig={"MaxItems": 2000}
                )
                for summary in page["imageSetsMetadataSummaries"]
            }
        )
        random.Random(size).shuffle(patient_ids)
        newest = sample["imageSetsMetadataSummaries"][0]["updatedAt"]
        year_before = newest - datetime.timedelta(days=365)

        http = urllib3.PoolManager(maxsize=1)

        def raw(method: str, path: str, body: dict | None = None) -> object:
            response = http.request(
                method,
                server.url + path,
                body=json.dumps(body).encode() if body is not None else None,
                headers=RAW_HEADERS,
            )
            assert response.status == 200, response.data
            return response.data

        search_path = f"/datastore/{datastore_id}/searchImageSets?maxResults=50"

        def patient_criteria(round_number: int) -> dict:
            patient_id = patient_ids[round_number % len(patient_ids)]
            return {
                "filters": [
                    {"operator": "EQUAL", "values": [{"DICOMPatientId": patient_id}]}
                ]
            }

        def updated_criteria(as_epoch: bool) -> dict:
            bounds = (year_before, newest)
            values = [{"updatedAt": b.timestamp() if as_epoch else b} for b in bounds]
            return {"filters": [{"operator": "BETWEEN", "values": values}]}

        def search(criteria: dict) -> object:
            return client.search_image_sets(
                datastoreId=datastore_id, searchCriteria=criteria, maxResults=50
            )

        cases = {
            "GetDatastore": (
                lambda _: client.get_datastore(datastoreId=datastore_id),
                lambda _: raw("GET", f"/datastore/{datastore_id}"),
            ),
            "no criteria": (
                lambda _: client.search_image_sets(
                    datastoreId=datastore_id, maxResults=50
                ),
                lambda _: raw("POST", search_path, {}),
            ),
            "patient ID EQUAL": (
                lambda n: search(patient_criteria(n)),
                lambda n: raw("POST", search_path, patient_criteria(n)),
            ),
            "updatedAt BETWEEN": (
                lambda _: search(updated_criteria(as_epoch=False)),
                lambda _: raw("POST", search_path, updated_criteria(as_epoch=True)),
            ),
        }
        assert len(search(updated_criteria(False))["imageSetsMetadataSummaries"]) == 50
        results = []
        for client_index, client_name in enumerate(("boto3", "raw HTTP")):
            baseline = statistics.median(
                _timings(cases["GetDatastore"][client_index], rounds)
            )
            print(f"  {client_name}: GetDatastore p50 {baseline * 1000:.2f} ms")
            for label, callers in cases.items():
                if label == "GetDatastore":
                    continue
                samples = _timings(callers[client_index], rounds)
                p50 = _percentile(samples, 0.50)
                print(f"  {client_name}: {label} p50 {p50 * 1000:.2f} ms")
                results.append(
                    (
                        client_name,
                        label,
                        p50 / baseline,
                        _percentile(samples, 0.95) / baseline,
                    )
                )
        return results
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as workdir:
        for size in options.sizes:
            print(f"{size:,} image sets")
            rows.extend(
                (size, *row) for row in bench_size(size, options.rounds, Path(workdir))
            )
    print()
    print("search page (50 results) time / GetDatastore p50, one run")
    print(
        f"{'image sets':>10}  {'client':<8}  {'search':<18} {'p50 ratio':>9} {'p95 ratio':>9}"
    )
    for size, client_name, label, p50, p95 in rows:
        print(f"{size:>10,}  {client_name:<8}  {label:<18} {p50:>9.2f} {p95:>9.2f}")
    for client_name in ("boto3", "raw HTTP"):
        worst = max(p50 for _, name, _, p50, _ in rows if name == client_name)
        verdict = "within" if worst <= TARGET_RATIO else "above"
        print(
            f"{client_name}: worst p50 ratio {worst:.2f}, {verdict} the {TARGET_RATIO:.0f}x target"
        )


if __name__ == "__main__":
    main()
