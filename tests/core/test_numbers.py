import pytest

from apps.core.numbers import positive_int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("42", 42),
        ("999999999", 999999999),
        ("0", None),
        ("", None),
        ("-3", None),
        ("²", None),  # str.isdigit() says yes; int() raises
        ("٣", None),  # an Arabic-Indic digit: int() reads it, a URL should not
        ("1" * 5000, None),  # int() refuses strings this long
        (" 7", None),
        ("7.0", None),
    ],
)
def test_positive_int_reads_only_ascii_whole_numbers(text, expected):
    assert positive_int(text) == expected


def test_positive_int_respects_its_maximum():
    assert positive_int("100", maximum=100) == 100
    assert positive_int("101", maximum=100) is None


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["²", "1" * 5000])
def test_a_page_number_no_int_can_read_is_page_one_not_a_500(
    client, django_user_model, page
):
    from django.urls import reverse

    from apps.accounts.services import set_role

    user = django_user_model.objects.create_user("pager")
    set_role(user, "viewer")
    client.force_login(user)
    url = reverse("imports:job-list", args=["0" * 32])
    response = client.get(url, {"page": page})
    assert response.status_code != 500
