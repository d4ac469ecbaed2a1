from django.contrib.sessions.backends.signed_cookies import SessionStore

from apps.imagesets import paging

PATH = "/datastores/x/"
PARAMETERS = {"order": "desc", "page_size": "25"}


def build(session, *, page, cursor, next_token, key="k"):
    return paging.pager_build(
        session,
        key=key,
        path=PATH,
        parameters=PARAMETERS,
        page=page,
        cursor=cursor,
        next_token=next_token,
    )


def test_pager_build_links_next_with_this_pages_token():
    pager = build(SessionStore(), page=1, cursor=None, next_token="t2")

    assert pager.next_url == f"{PATH}?order=desc&page_size=25&page=2&cursor=t2"
    assert pager.previous_url is None
    assert pager.first_url == f"{PATH}?order=desc&page_size=25"
    assert pager.is_first


def test_pager_build_links_previous_from_the_trail_and_nothing_next_on_the_last_page():
    session = SessionStore()
    build(session, page=1, cursor=None, next_token="t2")
    build(session, page=2, cursor="t2", next_token="t3")

    pager = build(session, page=3, cursor="t3", next_token=None)

    assert pager.previous_url == f"{PATH}?order=desc&page_size=25&page=2&cursor=t2"
    assert pager.next_url is None


def test_pager_build_has_no_previous_link_when_the_trail_is_unknown():
    pager = build(SessionStore(), page=5, cursor="t5", next_token="t6")

    assert pager.previous_url is None
    assert not pager.is_first


def test_trail_key_depends_on_the_data_store_and_every_parameter_but_not_their_order():
    a = paging.trail_key("d1", {"order": "desc", "page_size": "25"})

    assert a == paging.trail_key("d1", {"page_size": "25", "order": "desc"})
    assert a != paging.trail_key("d2", {"order": "desc", "page_size": "25"})
    assert a != paging.trail_key("d1", {"order": "asc", "page_size": "25"})


def test_the_session_keeps_only_the_latest_searches():
    session = SessionStore()
    for search in range(paging.MAX_SEARCHES + 5):
        build(session, page=1, cursor=None, next_token="t", key=f"search-{search}")
    build(session, page=1, cursor=None, next_token="t", key="search-5")  # used again

    trails = session[paging.SESSION_KEY]
    assert len(trails) == paging.MAX_SEARCHES
    assert "search-0" not in trails
    assert list(trails)[-1] == "search-5"


def test_the_session_keeps_a_bounded_trail_per_search():
    session = SessionStore()
    for page in range(1, paging.MAX_PAGES + 50):
        build(
            session,
            page=page,
            cursor=f"t{page}" if page > 1 else None,
            next_token=f"t{page + 1}",
        )

    trail = paging.cursor_trail(session, "k")
    assert len(trail) == paging.MAX_PAGES
    assert str(paging.MAX_PAGES + 50) in trail
