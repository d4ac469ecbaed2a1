import datetime

from apps.healthimaging.types import DicomTags, ImageSetSummary
from apps.imagesets.templatetags.image_set_rows import result_rows

DATASTORE = "d" * 32
MARKUP = "<b>&\"'</b>"  # (no "=": in a person name it starts another component group)


def summary(image_set_id="a" * 32, **tags):
    return ImageSetSummary(
        image_set_id=image_set_id,
        version=3,
        created_at=None,
        updated_at=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC),
        is_primary=True,
        tags=DicomTags(**tags),
    )


def test_result_rows_render_one_row_per_image_set_in_header_order():
    rows = result_rows(
        [
            summary(
                patient_name="DOE^JANE^Q",
                patient_id="P1",
                patient_birth_date="19991122",
                patient_sex="F",
                accession_number="A1",
                study_date="20240102",
                study_time="140728.123",
                study_description="CT HEAD",
                modality="CT",
                body_part="HEAD",
                series_count=2,
                instance_count=40,
            ),
            summary("b" * 32),
        ],
        DATASTORE,
    )

    first, second, _ = rows.split("\n")
    assert first == (
        f'<tr data-image-set-id="{"a" * 32}"><th scope="row">'
        f'<a href="/datastores/{DATASTORE}/image-sets/{"a" * 32}/">DOE, JANE Q</a></th>'
        "<td>P1</td><td>1999-11-22</td><td>F</td><td>A1</td><td>2024-01-02 14:07:28</td>"
        "<td>CT HEAD</td><td>CT</td><td>HEAD</td><td>2 / 40</td><td>3</td>"
        '<td><time datetime="2024-05-06T07:08:09+00:00">2024-05-06 07:08:09 UTC</time></td></tr>'
    )
    assert f'href="/datastores/{DATASTORE}/image-sets/{"b" * 32}/">View<span' in second
    assert second.count("not recorded") == 11


def test_result_rows_escape_every_value():
    rows = result_rows(
        [
            summary(
                **dict.fromkeys(
                    (
                        "patient_name",
                        "patient_id",
                        "patient_birth_date",
                        "patient_sex",
                        "accession_number",
                        "study_date",
                        "study_time",
                        "study_description",
                        "modality",
                        "body_part",
                    ),
                    MARKUP,
                )
            )
        ],
        DATASTORE,
    )

    assert "<b" not in rows
    assert rows.count("&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;") == 10
