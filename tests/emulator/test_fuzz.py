"""No input gives a 500: property-based tests that throw valid and hostile requests at the emulator.

One emulator serves the whole module. Every answer must be a 200 or one of the 4xx errors the
botocore model documents for that operation, sent the rest-json way: an `x-amzn-ErrorType`
header and a JSON body with a non-empty `message`. Requests go through boto3, whose client-side
refusals (`ParamValidationError`) count as fine, and as raw HTTP for the shapes boto3 will not
send: `maxResults=0`, empty lists, both union members, bodies that are not JSON, wrong types.
"""

import base64
import datetime
import gzip
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError, ParamValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.emulator.handlers import HANDLERS
from apps.emulator.server import EmulatorServer
from tests.support.emulator import make_client, seed_archive

pytestmark = pytest.mark.emulator

SERVICE_MODEL = botocore.session.get_session().get_service_model("medical-imaging")
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/medical-imaging/aws4_request, "
    "SignedHeaders=host, Signature=x"
)
UTC = datetime.UTC
ACCOUNT_ID = "123456789012"

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
# Update and copy examples each read the image set first and check it afterwards.
FUZZ_WRITES = settings(FUZZ, max_examples=150)

IDENTIFIERS = [
    "DICOMPatientId",
    "DICOMAccessionNumber",
    "DICOMStudyId",
    "DICOMStudyInstanceUID",
    "DICOMSeriesInstanceUID",
]
DATES = ["createdAt", "updatedAt", "DICOMStudyDateAndTime"]
ATTRIBUTES = [*IDENTIFIERS, *DATES, "isPrimary"]
HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "\u202e",
    "\U0001f600",
    "%",
    "%00",
    "' OR '1'='1",
    "*",
    "?",
    "\\",
    "null",
    "../..",
    "a" * 513,
    "1." * 300,
    "\u0661\u0662",
]
HOSTILE_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'""',
    b"0",
    b"{",
    b"\xff\xfe\x00",
    b"NaN",
    b'{"a": Infinity}',
    b"[" * 3000,
    b'{"a":' * 3000,
    b"1" * 5000,
]


# -- checking answers -----------------------------------------------------------------------


def documented_errors(operation: str) -> dict[str, int]:
    """The client errors the model lists for an operation, by name, with their HTTP status."""
    return {
        shape.name: shape.metadata["error"]["httpStatusCode"]
        for shape in SERVICE_MODEL.operation_model(operation).error_shapes
        if shape.metadata["error"]["httpStatusCode"] < 500
    }


def describe(request: object) -> str:
    text = repr(request)
    return text if len(text) <= 600 else text[:600] + "..."


def assert_documented_error(
    operation: str,
    status: int,
    error_type: str | None,
    message: object,
    request: object,
) -> None:
    allowed = documented_errors(operation)
    context = f"{operation} answered {status} {error_type}: {describe(message)} to {describe(request)}"
    assert status < 500, context
    assert error_type, "no x-amzn-ErrorType header: " + context
    error_type = error_type.split(":")[0]
    assert error_type in allowed, "undocumented error: " + context
    assert allowed[error_type] == status, "wrong status for the error: " + context
    assert isinstance(message, str), "no message: " + context
    assert message, "empty message: " + context


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None
    body: dict


def call(client, operation: str, **params: object) -> Outcome | None:
    """Send a request through boto3; None when botocore refused it client side."""
    try:
        response = getattr(client, xform_name(operation))(**params)
    except ParamValidationError:
        return None
    except ClientError as error:
        meta = error.response["ResponseMetadata"]
        error_type = meta["HTTPHeaders"].get("x-amzn-errortype")
        assert_documented_error(
            operation,
            meta["HTTPStatusCode"],
            error_type,
            error.response["Error"].get("Message"),
            params,
        )
        return Outcome(meta["HTTPStatusCode"], error.response["Error"]["Code"], {})
    return Outcome(200, None, response)


def send_raw(
    url: str,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes | None = None,
    signed: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": AUTHORIZATION} if signed else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(
            method, f"{path}?{query}" if query else path, body=body, headers=headers
        )
        response = connection.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def assert_raw_answer(
    operation: str, answer: tuple[int, dict[str, str], bytes], request: object
) -> int:
    status, headers, payload = answer
    if status == 200:
        return status
    try:
        document = json.loads(payload)
    except ValueError:
        pytest.fail(
            f"{operation} error body is not JSON: {payload[:200]!r} to {describe(request)}"
        )
    message = document.get("message") if isinstance(document, dict) else None
    assert_documented_error(
        operation, status, headers.get("x-amzn-errortype"), message, request
    )
    return status


# -- the archive under test -----------------------------------------------------------------


@dataclass
class Archive:
    url: str
    client: object
    read_datastore: str
    write_datastore: str
    empty_datastore: str
    read_sets: list[str]
    write_sets: list[str]
    identifiers: dict[str, list[str]]
    search_tokens: list[tuple[dict | None, str]]
    datastore_token: str


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Iterator[Archive]:
    """One emulator for the module: 60 image sets to read, 16 to update and copy, one empty store."""
    path = tmp_path_factory.mktemp("fuzz") / "emulator.sqlite3"
    server = EmulatorServer(str(path), update_delay=0, validate_responses=True).start()
    try:
        read_datastore, read_sets = seed_archive(
            server, 60, name="fuzz-reads", random_seed=11
        )
        write_datastore, write_sets = seed_archive(
            server, 16, name="fuzz-writes", random_seed=12
        )
        empty = server.store.create_datastore(
            name="fuzz-empty", client_token="fuzz-empty", status="ACTIVE"
        )
        # One attempt per call: a retried 500 must not pass for a success.
        client = make_client(server.url)
        summaries = client.search_image_sets(datastoreId=read_datastore, maxResults=50)[
            "imageSetsMetadataSummaries"
        ]
        identifiers = {
            name: sorted(
                {s["DICOMTags"][name] for s in summaries if name in s["DICOMTags"]}
            )
            for name in IDENTIFIERS
        }
        window = {
            "filters": [
                {
                    "operator": "BETWEEN",
                    "values": [
                        {"createdAt": datetime.datetime(1990, 1, 1, tzinfo=UTC)},
                        {"createdAt": datetime.datetime(2030, 1, 1, tzinfo=UTC)},
                    ],
                }
            ],
            "sort": {"sortField": "createdAt", "sortOrder": "ASC"},
        }
        search_tokens = []
        for criteria in (None, window):
            kwargs = {"searchCriteria": criteria} if criteria else {}
            page = client.search_image_sets(
                datastoreId=read_datastore, maxResults=7, **kwargs
            )
            search_tokens.append((criteria, page["nextToken"]))
        datastore_token = client.list_datastores(maxResults=1)["nextToken"]
        yield Archive(
            url=server.url,
            client=client,
            read_datastore=read_datastore,
            write_datastore=write_datastore,
            empty_datastore=empty["id"],
            read_sets=read_sets,
            write_sets=write_sets,
            identifiers=identifiers,
            search_tokens=search_tokens,
            datastore_token=datastore_token,
        )
    finally:
        server.stop()


# -- strategies -----------------------------------------------------------------------------


def mostly(usual: st.SearchStrategy, *unusual: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` three times in four, otherwise one of `unusual`."""
    # Not one_of(usual, usual, usual, ...): hypothesis drops the repeated branches.
    return st.sampled_from([usual, usual, usual, st.one_of(*unusual)]).flatmap(
        lambda chosen: chosen
    )


def pick(values: list) -> st.SearchStrategy:
    """One of `values`, which come from the emulator's current state.

    The choice is an index of fixed range, so hypothesis sees the same kind of draw whatever
    the state is; `sampled_from(values)` would change shape as image sets gain versions.
    """
    return st.integers(0, 255).map(lambda index: values[index % len(values)])


short_text = st.text(max_size=24)
hostile_text = st.one_of(
    short_text, st.text(min_size=500, max_size=600), st.sampled_from(HOSTILE_STRINGS)
)
uid_like = st.from_regex(r"[0-9.]{1,80}", fullmatch=True)
unknown_ids = st.text(
    alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=32, max_size=32
)
malformed_ids = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["A" * 32, "a" * 31, "a" * 33, "-" * 32, "."]),
)
version_ids = st.one_of(
    st.integers(1, 4).map(str),
    st.from_regex(r"[0-9]{1,30}", fullmatch=True),
    st.sampled_from(["0", "-1", "1.0", " 1", "\u0661", "9" * 5000]),
    short_text,
)
timestamps = st.datetimes(
    min_value=datetime.datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime.datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
raw_timestamps = st.one_of(
    timestamps.map(lambda moment: moment.timestamp()),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.sampled_from([1e11, -1e11, 99999999999, 1e308, -0.0]),
    timestamps.map(datetime.datetime.isoformat),
    hostile_text,
    st.booleans(),
    st.none(),
)
study_dates = st.one_of(
    st.dates(
        min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)
    ).map(lambda day: day.strftime("%Y%m%d")),
    st.sampled_from(
        ["20231345", "20230230", "00000101", "99991231", "2023-01-01", "2023010", ""]
    ),
    st.from_regex(r"[0-9]{0,10}", fullmatch=True),
    hostile_text,
)
study_times = st.one_of(
    st.sampled_from(
        ["", "000000", "235959.999999", "240000", "126000", "12", "1234", "12:00:00"]
    ),
    st.from_regex(r"[0-9]{0,8}(\.[0-9]{0,8})?", fullmatch=True),
    hostile_text,
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), short_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(short_text, children, max_size=4),
    ),
    max_leaves=12,
)


def datastore_ids(real: str) -> st.SearchStrategy[str]:
    return mostly(st.just(real), unknown_ids, malformed_ids)


def image_set_ids(real: list[str]) -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(real), unknown_ids, malformed_ids)


def next_tokens(archive: Archive) -> st.SearchStrategy[str]:
    real = [token for _, token in archive.search_tokens] + [archive.datastore_token]
    return st.one_of(
        st.sampled_from(real),
        st.sampled_from(real).map(lambda token: token[:-2] + "xx"),
        st.sampled_from(real).map(lambda token: token.split(".")[0]),
        st.text(min_size=1, max_size=40),
        st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
            min_size=1,
        ),
        st.just("a" * 8193),
    )


valid_study_times = st.one_of(
    st.sampled_from(["000000", "235959.999999", "12", "1234", "123456.5"]),
    st.times().map(lambda moment: moment.strftime("%H%M%S")),
)


def attribute_values(
    archive: Archive, attribute: str, *, valid: bool = False
) -> st.SearchStrategy:
    """Values for one search attribute: real and well formed if `valid`, else anything goes."""
    if attribute in IDENTIFIERS:
        real = st.sampled_from(archive.identifiers.get(attribute) or ["none"])
        return real if valid else mostly(real, hostile_text, uid_like)
    if attribute == "DICOMStudyDateAndTime":
        if valid:
            return st.fixed_dictionaries(
                {
                    "DICOMStudyDate": study_dates.filter(
                        lambda day: len(day) == 8 and day.isdigit()
                    )
                },
                optional={"DICOMStudyTime": valid_study_times},
            )
        return st.fixed_dictionaries(
            {"DICOMStudyDate": study_dates}, optional={"DICOMStudyTime": study_times}
        )
    if attribute == "isPrimary":
        return st.booleans()
    return timestamps


def search_values(archive: Archive) -> st.SearchStrategy[dict]:
    return st.sampled_from(ATTRIBUTES).flatmap(
        lambda attribute: attribute_values(archive, attribute).map(
            lambda value: {attribute: value}
        )
    )


def search_filters(archive: Archive) -> st.SearchStrategy[dict]:
    same_attribute = st.sampled_from(ATTRIBUTES).flatmap(
        lambda attribute: st.lists(
            attribute_values(archive, attribute).map(lambda value: {attribute: value}),
            min_size=1,
            max_size=3,
        )
    )
    return st.fixed_dictionaries(
        {
            "operator": st.one_of(st.sampled_from(["EQUAL", "BETWEEN"]), hostile_text),
            "values": st.one_of(
                same_attribute, st.lists(search_values(archive), min_size=1, max_size=3)
            ),
        }
    )


valid_sorts = st.fixed_dictionaries(
    {
        "sortField": st.sampled_from(
            ["updatedAt", "createdAt", "DICOMStudyDateAndTime"]
        ),
        "sortOrder": st.sampled_from(["ASC", "DESC"]),
    }
)
sorts = st.fixed_dictionaries(
    {},
    optional={
        "sortField": st.one_of(
            st.sampled_from(["updatedAt", "createdAt", "DICOMStudyDateAndTime"]),
            hostile_text,
        ),
        "sortOrder": st.one_of(st.sampled_from(["ASC", "DESC"]), hostile_text),
    },
)


def documented_criteria(archive: Archive, *, valid: bool) -> st.SearchStrategy[dict]:
    """The shapes the contract documents, with real values if `valid`, else random ones."""

    def equal(attribute: str) -> st.SearchStrategy[dict]:
        return attribute_values(archive, attribute, valid=valid).map(
            lambda value: {"operator": "EQUAL", "values": [{attribute: value}]}
        )

    def between(attribute: str) -> st.SearchStrategy[dict]:
        value = attribute_values(archive, attribute, valid=valid)
        return st.tuples(value, value).map(
            lambda pair: {
                "operator": "BETWEEN",
                "values": [{attribute: pair[0]}, {attribute: pair[1]}],
            }
        )

    identifier_filter = st.sampled_from([*IDENTIFIERS, "isPrimary"]).flatmap(equal)
    date_filter = st.sampled_from(DATES).flatmap(between)
    return st.fixed_dictionaries(
        {
            "filters": st.one_of(
                st.tuples(identifier_filter).map(list),
                st.tuples(date_filter).map(list),
                st.tuples(identifier_filter, date_filter).map(list),
                st.tuples(date_filter, identifier_filter).map(list),
            )
        },
        optional={"sort": valid_sorts if valid else sorts},
    )


def search_criteria(archive: Archive) -> st.SearchStrategy[dict | None]:
    return st.one_of(
        st.none(),
        documented_criteria(archive, valid=True),
        documented_criteria(archive, valid=True),
        documented_criteria(archive, valid=False),
        st.fixed_dictionaries(
            {},
            optional={
                "filters": st.lists(search_filters(archive), min_size=1, max_size=3),
                "sort": sorts,
            },
        ),
    )


def raw_search_bodies(archive: Archive) -> st.SearchStrategy[bytes]:
    leaf = st.one_of(
        raw_timestamps,
        hostile_text,
        st.fixed_dictionaries(
            {}, optional={"DICOMStudyDate": json_values, "DICOMStudyTime": json_values}
        ),
        json_values,
    )
    value = st.one_of(
        st.dictionaries(
            st.one_of(st.sampled_from(ATTRIBUTES), short_text), leaf, max_size=3
        ),
        json_values,
    )
    search_filter = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "operator": st.one_of(
                    st.sampled_from(["EQUAL", "BETWEEN"]), json_values
                ),
                "values": st.one_of(st.lists(value, max_size=3), json_values),
            },
        ),
        json_values,
    )
    criteria = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "filters": st.one_of(st.lists(search_filter, max_size=3), json_values),
                "sort": st.one_of(sorts, json_values),
            },
        ),
        json_values,
    )
    return st.one_of(
        criteria.map(lambda document: json.dumps(document).encode()),
        st.binary(max_size=64),
        st.sampled_from(HOSTILE_BODIES),
    )


def raw_queries(names: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """A query string with any of the known parameters (maybe repeated) and some unknown ones."""
    known = [
        st.lists(value, max_size=2).map(
            lambda values, name=name: [(name, v) for v in values]
        )
        for name, value in names.items()
    ]
    extra = st.lists(st.tuples(short_text, short_text), max_size=2)
    pairs = st.tuples(*known, extra).map(
        lambda groups: [pair for group in groups for pair in group]
    )
    return st.one_of(
        pairs.map(lambda items: urlencode(items, quote_via=quote)),
        st.sampled_from(["%zz=%", "maxResults", "&&&", "=", "maxResults=%ff"]),
    )


raw_max_results = st.one_of(
    st.integers(-5, 100).map(str),
    st.sampled_from(["", "1e3", "0x10", "\u0663", "99999999999"]),
    short_text,
)
max_results_values = mostly(st.none() | st.integers(1, 50), st.integers(-5, 100))
raw_booleans = st.one_of(
    st.sampled_from(["true", "false", "True", "1", ""]), short_text
)


# -- SearchImageSets ------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_search_image_sets_answers_200_or_a_documented_error_for_any_criteria(
    archive, data
):
    params = {
        "datastoreId": data.draw(
            datastore_ids(archive.read_datastore), label="datastore"
        )
    }
    criteria = data.draw(search_criteria(archive), label="criteria")
    if criteria is not None:
        params["searchCriteria"] = criteria
    max_results = data.draw(max_results_values, label="maxResults")
    if max_results is not None:
        params["maxResults"] = max_results
    token = data.draw(mostly(st.none(), next_tokens(archive)), label="nextToken")
    if token is not None:
        params["nextToken"] = token
    outcome = call(archive.client, "SearchImageSets", **params)
    if outcome is None or outcome.status != 200:
        return
    assert len(outcome.body["imageSetsMetadataSummaries"]) <= (max_results or 50)
    if "nextToken" in outcome.body:
        following = call(
            archive.client,
            "SearchImageSets",
            **{**params, "nextToken": outcome.body["nextToken"]},
        )
        assert following is not None
        assert following.status == 200, (
            "a token must work with the criteria that issued it"
        )


@FUZZ
@given(data=st.data())
def test_search_tokens_are_accepted_only_with_the_criteria_that_issued_them(
    archive, data
):
    issued_criteria, token = data.draw(
        st.sampled_from(archive.search_tokens), label="issued"
    )
    criteria = data.draw(
        st.one_of(st.just(issued_criteria), search_criteria(archive)), label="criteria"
    )
    params = {"datastoreId": archive.read_datastore, "nextToken": token}
    if criteria is not None:
        params["searchCriteria"] = criteria
    outcome = call(archive.client, "SearchImageSets", **params)
    if outcome is None:
        return
    if (criteria or {}) == (issued_criteria or {}):
        assert outcome.status == 200
    else:
        assert outcome.code == "ValidationException"


@FUZZ
@given(data=st.data())
def test_search_image_sets_answers_documented_errors_to_raw_requests_boto3_would_refuse(
    archive, data
):
    datastore = data.draw(datastore_ids(archive.read_datastore), label="datastore")
    body = data.draw(raw_search_bodies(archive), label="body")
    query = data.draw(
        raw_queries(
            {
                "maxResults": raw_max_results,
                "nextToken": next_tokens(archive) | hostile_text,
            }
        ),
        label="query",
    )
    signed = data.draw(mostly(st.just(True), st.just(False)), label="signed")
    path = f"/datastore/{quote(datastore, safe='')}/searchImageSets"
    answer = send_raw(archive.url, "POST", path, query=query, body=body, signed=signed)
    status = assert_raw_answer("SearchImageSets", answer, (path, query, body, signed))
    if not signed:
        assert status == 403


# -- reads of image sets and data stores ----------------------------------------------------


@FUZZ
@given(data=st.data())
def test_image_set_reads_answer_200_or_a_documented_error_for_any_ids_and_versions(
    archive, data
):
    operation = data.draw(
        st.sampled_from(["GetImageSet", "GetImageSetMetadata", "ListImageSetVersions"]),
        label="operation",
    )
    params = {
        "datastoreId": data.draw(
            datastore_ids(archive.read_datastore), label="datastore"
        ),
        "imageSetId": data.draw(image_set_ids(archive.read_sets), label="imageSet"),
    }
    if operation == "ListImageSetVersions":
        max_results = data.draw(max_results_values, label="maxResults")
        if max_results is not None:
            params["maxResults"] = max_results
        token = data.draw(mostly(st.none(), next_tokens(archive)), label="nextToken")
        if token is not None:
            params["nextToken"] = token
    else:
        version = data.draw(
            mostly(st.sampled_from([None, "1"]), version_ids), label="version"
        )
        if version is not None:
            params["versionId"] = version
    outcome = call(archive.client, operation, **params)
    if (
        outcome is not None
        and outcome.status == 200
        and operation == "GetImageSetMetadata"
    ):
        blob = outcome.body["imageSetMetadataBlob"].read()
        assert isinstance(json.loads(gzip.decompress(blob)), dict)


def resource_arns(archive: Archive) -> st.SearchStrategy[str]:
    prefix = f"arn:aws:medical-imaging:us-east-1:{ACCOUNT_ID}:datastore/"
    return st.one_of(
        st.just(prefix + archive.write_datastore),
        st.sampled_from(archive.write_sets).map(
            lambda image_set: f"{prefix}{archive.write_datastore}/imageset/{image_set}"
        ),
        unknown_ids.map(lambda datastore: prefix + datastore),
        st.just(
            f"arn:aws:medical-imaging:us-east-1:999999999999:datastore/{archive.write_datastore}"
        ),
        st.just(
            f"arn:aws:medical-imaging:eu-west-1:{ACCOUNT_ID}:datastore/{archive.write_datastore}"
        ),
        hostile_text.filter(bool),  # an empty label leaves no route to match
    )


tag_maps = st.dictionaries(
    st.one_of(
        st.sampled_from(["project", "owner", "aws:reserved", "a" * 129]), short_text
    ),
    st.one_of(st.sampled_from(["demo", "", "a" * 257]), short_text),
    max_size=4,
)


@FUZZ
@given(data=st.data())
def test_datastore_and_tag_operations_answer_200_or_a_documented_error_for_any_input(
    archive, data
):
    operation = data.draw(
        st.sampled_from(
            [
                "GetDatastore",
                "ListDatastores",
                "CreateDatastore",
                "DeleteDatastore",
                "DeleteImageSet",
                "ListTagsForResource",
                "TagResource",
                "UntagResource",
            ]
        ),
        label="operation",
    )
    params: dict = {}
    if operation in ("GetDatastore", "DeleteDatastore", "DeleteImageSet"):
        # Deletes only ever name stores that hold image sets, or things that do not exist.
        params["datastoreId"] = data.draw(
            st.one_of(
                st.sampled_from([archive.read_datastore, archive.write_datastore]),
                unknown_ids,
                malformed_ids,
            )
        )
        if operation == "DeleteImageSet":
            params["imageSetId"] = data.draw(
                st.one_of(unknown_ids, malformed_ids), label="imageSet"
            )
    elif operation == "ListDatastores":
        params = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "datastoreStatus": st.one_of(
                        st.sampled_from(["CREATING", "ACTIVE", "DELETED", "active"]),
                        hostile_text,
                    ),
                    "maxResults": st.integers(-5, 100),
                    "nextToken": next_tokens(archive),
                },
            ),
            label="params",
        )
    elif operation == "CreateDatastore":
        params = data.draw(
            st.fixed_dictionaries(
                {
                    "clientToken": st.one_of(
                        st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
                        hostile_text,
                    )
                },
                optional={
                    "datastoreName": st.one_of(
                        st.from_regex(r"[A-Za-z0-9._/#-]{1,256}", fullmatch=True),
                        hostile_text,
                    ),
                    "tags": tag_maps,
                    "kmsKeyArn": st.one_of(
                        st.just(
                            "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012"
                        ),
                        hostile_text,
                    ),
                    "lambdaAuthorizerArn": hostile_text,
                    "losslessStorageFormat": st.one_of(
                        st.sampled_from(["HTJ2K", "JPEG_2000_LOSSLESS"]), hostile_text
                    ),
                },
            ),
            label="params",
        )
    else:
        params["resourceArn"] = data.draw(resource_arns(archive), label="arn")
        if operation == "TagResource":
            params["tags"] = data.draw(tag_maps, label="tags")
        elif operation == "UntagResource":
            params["tagKeys"] = data.draw(
                st.lists(hostile_text, max_size=4), label="tagKeys"
            )
    call(archive.client, operation, **params)


# -- UpdateImageSetMetadata -----------------------------------------------------------------

PATIENT_KEYS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientNames",
]
STUDY_KEYS = [
    "StudyDescription",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyInstanceUID",
    "PatientAge",
    "ProcedureCodeSequence",
]
SERIES_KEYS = [
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "BodyPartExamined",
    "SeriesInstanceUID",
]
INSTANCE_KEYS = [
    "SOPInstanceUID",
    "InstanceNumber",
    "ImageType",
    "Rows",
    "PixelSpacing",
    "ImageFrames",
]
OTHER_KEYS = [
    "00091001",
    "001910F9",
    "00100010",
    "7FE00010",
    "00080018",
    "SchemaVersion",
    "ImageSetID",
    "PixelData",
    "Checksum",
    "NotAKeyword",
]
dicom_keys = mostly(
    st.sampled_from(
        PATIENT_KEYS + STUDY_KEYS + SERIES_KEYS + INSTANCE_KEYS + OTHER_KEYS
    ),
    st.from_regex(r"[0-9A-Fa-f]{8}", fullmatch=True),
    short_text,
)
dicom_values = st.one_of(
    st.sampled_from(
        [
            "MX^MX",
            "",
            "CT CHEST",
            "20240101",
            "120000",
            "1.2.3.4",
            "1.2.840.10008.1.2",
            "CT",
        ]
    ),
    st.sampled_from([None, 1, 1.5, -1, True, ["A", "B"], {"Alphabetic": "MX^MX"}]),
    uid_like,
    hostile_text,
    json_values,
)
dicom_attributes = st.dictionaries(dicom_keys, dicom_values, max_size=3)


def update_documents(series: dict[str, list[str]]) -> st.SearchStrategy[dict]:
    """A DICOMUpdates document, mostly well formed, naming the set's own series and instances."""
    series_uids = mostly(pick(sorted(series)), uid_like, short_text)

    def series_entry(series_uid: str) -> st.SearchStrategy:
        instances = series.get(series_uid) or ["1.2.3"]
        instance_uids = mostly(pick(instances), uid_like, short_text)
        instance_entry = mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "DICOM": dicom_attributes,
                    "DICOMVRs": st.dictionaries(
                        dicom_keys,
                        mostly(st.sampled_from(["DS", "LO", "SH", "UN"]), short_text),
                        max_size=2,
                    ),
                },
            ),
            json_values,
        )
        return mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "DICOM": dicom_attributes,
                    "Instances": st.dictionaries(
                        instance_uids, instance_entry, max_size=2
                    ),
                },
            ),
            json_values,
        )

    series_map = st.lists(series_uids, max_size=2, unique=True).flatmap(
        lambda uids: st.tuples(*(series_entry(uid) for uid in uids)).map(
            lambda entries: dict(zip(uids, entries, strict=True))
        )
    )
    well_formed = st.fixed_dictionaries(
        {"SchemaVersion": mostly(st.sampled_from([1.1, "1.1"]), json_values)},
        optional={
            "Patient": mostly(
                st.fixed_dictionaries({"DICOM": dicom_attributes}), json_values
            ),
            "Study": mostly(
                st.fixed_dictionaries(
                    {}, optional={"DICOM": dicom_attributes, "Series": series_map}
                ),
                json_values,
            ),
        },
    )
    return mostly(
        well_formed,
        well_formed.flatmap(
            lambda document: st.tuples(short_text, json_values).map(
                lambda extra: {**document, extra[0]: extra[1]}
            )
        ),
    )


LARGE_UPDATE = (
    '{"SchemaVersion": 1.1, "Patient": {"DICOM": {"PatientComments": "%s"}}}'
    % ("x" * 11000)
)


def update_blobs(series: dict[str, list[str]]) -> st.SearchStrategy[str | bytes]:
    return mostly(
        update_documents(series).map(json.dumps),
        json_values.map(json.dumps),
        st.binary(max_size=32),
        st.just(LARGE_UPDATE),
        hostile_text,
    )


def update_payloads(
    series: dict[str, list[str]], latest: str
) -> st.SearchStrategy[dict]:
    blobs = update_blobs(series)
    earlier = [str(version) for version in range(1, int(latest))] or ["1"]
    return mostly(
        st.fixed_dictionaries(
            {"DICOMUpdates": st.fixed_dictionaries({"updatableAttributes": blobs})}
        ),
        st.fixed_dictionaries(
            {
                "DICOMUpdates": st.fixed_dictionaries(
                    {},
                    optional={
                        "updatableAttributes": blobs,
                        "removableAttributes": blobs,
                    },
                )
            }
        ),
        st.fixed_dictionaries(
            {"revertToVersionId": st.one_of(pick(earlier), version_ids)}
        ),
    )


def current_state(
    archive: Archive, image_set_id: str
) -> tuple[str, dict[str, list[str]]]:
    """The latest version of a write set and its series UIDs with their instance UIDs."""
    client = archive.client
    latest = client.get_image_set(
        datastoreId=archive.write_datastore, imageSetId=image_set_id
    )["versionId"]
    blob = client.get_image_set_metadata(
        datastoreId=archive.write_datastore, imageSetId=image_set_id
    )
    document = json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read()))
    series = {
        uid: sorted(entry.get("Instances", {}))
        for uid, entry in document.get("Study", {}).get("Series", {}).items()
    }
    return latest, series or {"1.2.3": ["1.2.3.4"]}


def assert_image_set_still_readable(
    archive: Archive, image_set_id: str, updated_at: datetime.datetime
) -> None:
    """Whatever an accepted write stored, every read of the set still answers 200."""
    client = archive.client
    properties = client.get_image_set(
        datastoreId=archive.write_datastore, imageSetId=image_set_id
    )
    assert properties["imageSetState"] == "ACTIVE"
    blob = client.get_image_set_metadata(
        datastoreId=archive.write_datastore, imageSetId=image_set_id
    )
    assert isinstance(
        json.loads(gzip.decompress(blob["imageSetMetadataBlob"].read())), dict
    )
    versions = client.list_image_set_versions(
        datastoreId=archive.write_datastore, imageSetId=image_set_id
    )
    assert versions["imageSetPropertiesList"][0]["versionId"] == properties["versionId"]
    second = datetime.timedelta(seconds=1)
    found = client.search_image_sets(
        datastoreId=archive.write_datastore,
        searchCriteria={
            "filters": [
                {
                    "operator": "BETWEEN",
                    "values": [
                        {"updatedAt": updated_at - second},
                        {"updatedAt": updated_at + second},
                    ],
                }
            ]
        },
    )["imageSetsMetadataSummaries"]
    assert image_set_id in {summary["imageSetId"] for summary in found}


@FUZZ_WRITES
@given(data=st.data())
def test_update_image_set_metadata_answers_200_or_a_documented_error_for_any_payload(
    archive, data
):
    image_set_id = data.draw(st.sampled_from(archive.write_sets), label="imageSet")
    latest, series = current_state(archive, image_set_id)
    params = {
        "datastoreId": data.draw(
            datastore_ids(archive.write_datastore), label="datastore"
        ),
        "imageSetId": data.draw(
            mostly(st.just(image_set_id), image_set_ids(archive.write_sets)),
            label="id",
        ),
        "latestVersionId": data.draw(
            mostly(st.just(latest), version_ids), label="latest"
        ),
        "updateImageSetMetadataUpdates": data.draw(
            update_payloads(series, latest), label="updates"
        ),
    }
    for flag in ("force", "includeStudyImageSets"):
        value = data.draw(st.none() | st.booleans(), label=flag)
        if value is not None:
            params[flag] = value
    outcome = call(archive.client, "UpdateImageSetMetadata", **params)
    if outcome is None or outcome.status != 200:
        return
    assert outcome.body["imageSetState"] == "LOCKED"
    assert int(outcome.body["latestVersionId"]) == int(params["latestVersionId"]) + 1
    if params["datastoreId"] == archive.write_datastore:
        assert_image_set_still_readable(
            archive, params["imageSetId"], outcome.body["updatedAt"]
        )


def raw_update_bodies(series: dict[str, list[str]]) -> st.SearchStrategy[bytes]:
    encoded = update_blobs(series).map(
        lambda blob: base64.b64encode(
            blob if isinstance(blob, bytes) else blob.encode()
        ).decode()
    )
    blob_field = mostly(encoded, hostile_text, json_values)
    dicom_updates = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "updatableAttributes": blob_field,
                "removableAttributes": blob_field,
            },
        ),
        json_values,
    )
    document = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "DICOMUpdates": dicom_updates,
                "revertToVersionId": st.one_of(version_ids, json_values),
            },
        ),
        json_values,
    )
    return st.one_of(
        document.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=64),
        st.sampled_from(HOSTILE_BODIES),
    )


@FUZZ_WRITES
@given(data=st.data())
def test_update_image_set_metadata_answers_documented_errors_to_raw_requests(
    archive, data
):
    image_set_id = data.draw(st.sampled_from(archive.write_sets), label="imageSet")
    latest, series = current_state(archive, image_set_id)
    datastore = data.draw(datastore_ids(archive.write_datastore), label="datastore")
    image_set = data.draw(
        mostly(st.just(image_set_id), image_set_ids(archive.write_sets)), label="id"
    )
    query = data.draw(
        raw_queries(
            {
                "latestVersion": mostly(st.just(latest), version_ids),
                "force": raw_booleans,
                "includeStudyImageSets": raw_booleans,
            }
        ),
        label="query",
    )
    body = data.draw(raw_update_bodies(series), label="body")
    path = f"/datastore/{quote(datastore, safe='')}/imageSet/{quote(image_set, safe='')}/updateImageSetMetadata"
    answer = send_raw(archive.url, "POST", path, query=query, body=body)
    if assert_raw_answer(
        "UpdateImageSetMetadata", answer, (path, query, body)
    ) == 200 and (datastore == archive.write_datastore):
        updated_at = datetime.datetime.fromtimestamp(
            json.loads(answer[2])["updatedAt"], tz=UTC
        )
        assert_image_set_still_readable(archive, image_set, updated_at)


# -- CopyImageSet ---------------------------------------------------------------------------


def copiable_attributes(series: dict[str, list[str]]) -> st.SearchStrategy[str]:
    series_uids = st.one_of(pick(sorted(series)), uid_like)
    selection = st.dictionaries(
        series_uids,
        st.one_of(
            st.just({}),
            st.fixed_dictionaries(
                {
                    "Instances": st.dictionaries(
                        st.one_of(
                            pick(
                                [uid for uids in series.values() for uid in uids]
                                or ["1.2"]
                            ),
                            uid_like,
                        ),
                        st.one_of(st.just({}), json_values),
                        max_size=3,
                    )
                }
            ),
            json_values,
        ),
        max_size=2,
    )
    return st.one_of(
        selection.map(
            lambda chosen: json.dumps(
                {"SchemaVersion": "1.1", "Study": {"Series": chosen}}
            )
        ),
        st.fixed_dictionaries(
            {}, optional={"SchemaVersion": json_values, "Study": json_values}
        ).map(json.dumps),
        json_values.map(json.dumps),
        hostile_text,
    )


@FUZZ_WRITES
@given(data=st.data())
def test_copy_image_set_answers_200_or_a_documented_error_for_any_input(archive, data):
    source_id = data.draw(st.sampled_from(archive.write_sets), label="source")
    source_latest, series = current_state(archive, source_id)
    source = {
        "latestVersionId": data.draw(
            st.one_of(st.just(source_latest), version_ids), label="latest"
        )
    }
    if data.draw(st.booleans(), label="selective"):
        source["DICOMCopies"] = {
            "copiableAttributes": data.draw(
                copiable_attributes(series), label="copiable"
            )
        }
    information: dict = {"sourceImageSet": source}
    if data.draw(st.booleans(), label="to existing"):
        destination_id = data.draw(
            st.one_of(st.sampled_from(archive.write_sets), unknown_ids, malformed_ids)
        )
        destination_latest = (
            current_state(archive, destination_id)[0]
            if destination_id in archive.write_sets
            else "1"
        )
        information["destinationImageSet"] = {
            "imageSetId": destination_id,
            "latestVersionId": data.draw(
                st.one_of(st.just(destination_latest), version_ids)
            ),
        }
    params = {
        "datastoreId": data.draw(
            datastore_ids(archive.write_datastore), label="datastore"
        ),
        "sourceImageSetId": data.draw(
            mostly(st.just(source_id), image_set_ids(archive.write_sets))
        ),
        "copyImageSetInformation": information,
    }
    for flag in ("force", "promoteToPrimary"):
        value = data.draw(st.none() | st.booleans(), label=flag)
        if value is not None:
            params[flag] = value
    call(archive.client, "CopyImageSet", **params)


# -- any operation, raw ---------------------------------------------------------------------

# Raw writes name only things that do not exist, so the image sets to read stay as seeded;
# the dedicated tests above cover writes to real image sets.
WRITES = {
    "StartDICOMImportJob",
    "DeleteDatastore",
    "DeleteImageSet",
    "CreateDatastore",
    "UpdateImageSetMetadata",
    "CopyImageSet",
}


@FUZZ
@given(data=st.data())
def test_any_raw_request_to_any_implemented_operation_gets_200_or_a_documented_error(
    archive, data
):
    names = sorted(set(HANDLERS) & set(SERVICE_MODEL.operation_names))
    operation = SERVICE_MODEL.operation_model(
        data.draw(st.sampled_from(names), label="operation")
    )
    path = operation.http["requestUri"].split("?")[0]
    for label in ("datastoreId", "imageSetId", "sourceImageSetId", "resourceArn"):
        if "{" + label + "}" not in path:
            continue
        if label == "datastoreId":
            choices = st.one_of(unknown_ids, malformed_ids)
            if operation.name not in WRITES:
                choices = st.one_of(st.just(archive.read_datastore), choices)
        elif label == "resourceArn":
            choices = resource_arns(archive)
        else:
            choices = st.one_of(unknown_ids, malformed_ids)
            if operation.name not in WRITES:
                choices = st.one_of(st.sampled_from(archive.read_sets), choices)
        path = path.replace(
            "{" + label + "}", quote(data.draw(choices, label=label), safe="")
        )
    query_names = {
        member.serialization.get("name", name): st.one_of(
            raw_max_results, raw_booleans, hostile_text
        )
        for name, member in (
            operation.input_shape.members.items() if operation.input_shape else []
        )
        if member.serialization.get("location") == "querystring"
    }
    query = data.draw(raw_queries(query_names), label="query")
    body = data.draw(
        st.one_of(
            st.none(),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.dictionaries(
                st.sampled_from(
                    ["tags", "datastoreName", "clientToken", "imageFrameId", "filters"]
                ),
                json_values,
                max_size=3,
            ).map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=32),
            st.sampled_from(HOSTILE_BODIES),
        ),
        label="body",
    )
    if operation.name == "CreateDatastore" and body is not None:
        return  # Creating stores is covered by the boto3 test; raw bodies could use up the quota.
    signed = data.draw(mostly(st.just(True), st.just(False)), label="signed")
    answer = send_raw(
        archive.url,
        operation.http["method"],
        path,
        query=query,
        body=body,
        signed=signed,
    )
    status = assert_raw_answer(
        operation.name, answer, (operation.http["method"], path, query, body, signed)
    )
    if not signed:
        assert status == 403


# -- inputs that once gave a 500 ------------------------------------------------------------

HUGE_DIGITS = "9" * 5000
DEEP_ARRAY = "[" * 3000


def _blob(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("operation", "path", "query", "body"),
    [
        pytest.param(
            "GetImageSet",
            "{set}/getImageSet",
            "version=" + "9" * 25,
            None,
            id="version-over-64-bits",
        ),
        pytest.param(
            "GetImageSetMetadata",
            "{set}/getImageSetMetadata",
            "version=" + "9" * 25,
            None,
            id="metadata-version-over-64-bits",
        ),
        pytest.param(
            "GetImageSet",
            "{set}/getImageSet",
            "version=" + HUGE_DIGITS,
            None,
            id="version-of-5000-digits",
        ),
        pytest.param(
            "UpdateImageSetMetadata",
            "{set}/updateImageSetMetadata",
            "latestVersion=" + HUGE_DIGITS,
            json.dumps({"revertToVersionId": "1"}),
            id="latest-version-of-5000-digits",
        ),
        pytest.param(
            "UpdateImageSetMetadata",
            "{set}/updateImageSetMetadata",
            "latestVersion=1",
            json.dumps({"revertToVersionId": HUGE_DIGITS}),
            id="revert-to-version-of-5000-digits",
        ),
        pytest.param(
            "CopyImageSet",
            "{set}/copyImageSet",
            "",
            json.dumps({"sourceImageSet": {"latestVersionId": HUGE_DIGITS}}),
            id="copy-latest-version-of-5000-digits",
        ),
        pytest.param(
            "SearchImageSets",
            "searchImageSets",
            "",
            DEEP_ARRAY,
            id="deeply-nested-body",
        ),
        pytest.param(
            "SearchImageSets",
            "searchImageSets",
            "",
            "1" * 5000,
            id="body-number-of-5000-digits",
        ),
        pytest.param(
            "UpdateImageSetMetadata",
            "{set}/updateImageSetMetadata",
            "latestVersion=1",
            json.dumps({"DICOMUpdates": {"updatableAttributes": _blob(DEEP_ARRAY)}}),
            id="deeply-nested-updatable-attributes",
        ),
        pytest.param(
            "UpdateImageSetMetadata",
            "{set}/updateImageSetMetadata",
            "latestVersion=1",
            json.dumps(
                {
                    "DICOMUpdates": {
                        "updatableAttributes": _blob(
                            '{"SchemaVersion": ' + "1" * 5000 + "}"
                        )
                    }
                }
            ),
            id="updatable-attributes-number-of-5000-digits",
        ),
        pytest.param(
            "CopyImageSet",
            "{set}/copyImageSet",
            "",
            json.dumps(
                {
                    "sourceImageSet": {
                        "latestVersionId": "1",
                        "DICOMCopies": {"copiableAttributes": '{"Study": 5}'},
                    }
                }
            ),
            id="copiable-attributes-study-not-an-object",
        ),
        pytest.param(
            "CopyImageSet",
            "{set}/copyImageSet",
            "",
            json.dumps(
                {
                    "sourceImageSet": {
                        "latestVersionId": "1",
                        "DICOMCopies": {"copiableAttributes": DEEP_ARRAY},
                    }
                }
            ),
            id="deeply-nested-copiable-attributes",
        ),
    ],
)
def test_hostile_inputs_that_once_gave_a_500_get_a_documented_error(
    archive, operation, path, query, body
):
    # A set of its own per input, so the accepted ones cannot disturb the other tests.
    image_set = archive.write_sets[-1]
    full_path = f"/datastore/{archive.write_datastore}/" + path.format(
        set=f"imageSet/{image_set}"
    )
    answer = send_raw(
        archive.url,
        "POST",
        full_path,
        query=query,
        body=body.encode() if body else None,
    )
    assert_raw_answer(operation, answer, (full_path, query[:80], (body or "")[:80]))


def minimal_requests(archive: Archive) -> dict[str, tuple[str, str, dict | None]]:
    """A plausible, well-formed request for every operation in the model."""
    datastore = archive.read_datastore
    image_set = f"/datastore/{datastore}/imageSet/{archive.read_sets[0]}"
    arn = quote(
        f"arn:aws:medical-imaging:us-east-1:{ACCOUNT_ID}:datastore/{datastore}", safe=""
    )
    unknown = "0" * 32
    return {
        "CreateDatastore": (
            "POST",
            "/datastore",
            {"datastoreName": "minimal", "clientToken": "minimal-1"},
        ),
        "GetDatastore": ("GET", f"/datastore/{datastore}", None),
        "ListDatastores": ("GET", "/datastore", None),
        "DeleteDatastore": ("DELETE", f"/datastore/{unknown}", None),
        "StartDICOMImportJob": (
            "POST",
            f"/startDICOMImportJob/datastore/{datastore}",
            {
                "jobName": "minimal",
                "dataAccessRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/ImportRole",
                "clientToken": "import-1",
                "inputS3Uri": "s3://minimal-bucket/input/",
                "outputS3Uri": "s3://minimal-bucket/output/",
            },
        ),
        "GetDICOMImportJob": (
            "GET",
            f"/getDICOMImportJob/datastore/{datastore}/job/{unknown}",
            None,
        ),
        "ListDICOMImportJobs": (
            "GET",
            f"/listDICOMImportJobs/datastore/{datastore}",
            None,
        ),
        "SearchImageSets": ("POST", f"/datastore/{datastore}/searchImageSets", {}),
        "GetImageSet": ("POST", f"{image_set}/getImageSet", None),
        "GetImageSetMetadata": ("POST", f"{image_set}/getImageSetMetadata", None),
        "GetImageFrame": (
            "POST",
            f"{image_set}/getImageFrame",
            {"imageFrameId": unknown},
        ),
        "ListImageSetVersions": ("POST", f"{image_set}/listImageSetVersions", None),
        "UpdateImageSetMetadata": (
            "POST",
            f"/datastore/{datastore}/imageSet/{unknown}/updateImageSetMetadata?latestVersion=1",
            {"revertToVersionId": "1"},
        ),
        "CopyImageSet": (
            "POST",
            f"/datastore/{datastore}/imageSet/{unknown}/copyImageSet",
            {"sourceImageSet": {"latestVersionId": "1"}},
        ),
        "DeleteImageSet": (
            "POST",
            f"/datastore/{datastore}/imageSet/{unknown}/deleteImageSet",
            None,
        ),
        "TagResource": ("POST", f"/tags/{arn}", {"tags": {"project": "minimal"}}),
        "ListTagsForResource": ("GET", f"/tags/{arn}", None),
        "UntagResource": ("DELETE", f"/tags/{arn}?tagKeys=project", None),
    }


@pytest.mark.parametrize("operation", sorted(SERVICE_MODEL.operation_names))
def test_every_model_operation_answers_a_well_formed_request_without_a_500(
    archive, operation
):
    method, target, body = minimal_requests(archive)[operation]
    path, _, query = target.partition("?")
    answer = send_raw(
        archive.url,
        method,
        path,
        query=query,
        body=json.dumps(body).encode() if body is not None else None,
    )
    assert_raw_answer(operation, answer, (method, target, body))
