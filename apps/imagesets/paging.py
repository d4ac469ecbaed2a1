"""Paging through search results one SearchImageSets call per page.

The URL of page N carries the cursor (nextToken) that leads to it, so any page reloads with one
call. HealthImaging has no "previous" token, so the session keeps each search's trail of
cursors: {page number: cursor}, for the latest searches only.
"""

import hashlib
from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase
from django.utils.http import urlencode

SESSION_KEY = "imagesets.cursor_trails"
# The session is read and written on every request: at most ~10 x 100 tokens of ~200 bytes.
MAX_SEARCHES = 10
MAX_PAGES = 100


@dataclass(frozen=True)
class Pager:
    page: int
    first_url: str
    previous_url: str | None  # None on page 1 and when the trail is unknown
    next_url: str | None  # None on the last page

    @property
    def is_first(self) -> bool:
        return self.page == 1


def page_url(
    path: str, parameters: dict[str, str], *, page: int, cursor: str | None
) -> str:
    query = dict(parameters)
    if page > 1:
        query["page"] = str(page)
        if cursor:
            query["cursor"] = cursor
    return f"{path}?{urlencode(query)}" if query else path


def trail_key(datastore_id: str, parameters: dict[str, str]) -> str:
    canonical = urlencode(sorted(parameters.items()))
    return hashlib.sha256(f"{datastore_id}?{canonical}".encode()).hexdigest()[:24]


def cursor_trail(session: SessionBase, key: str) -> dict[str, str]:
    return dict(session.get(SESSION_KEY, {}).get(key, {}))


def cursor_for(
    session: SessionBase, *, key: str, page: int, given: str | None
) -> str | None:
    """The cursor for `page`: the one in the URL, else the one this session remembers."""
    if page == 1:
        return None
    return given or cursor_trail(session, key).get(str(page))


def pager_build(
    session: SessionBase,
    *,
    key: str,
    path: str,
    parameters: dict[str, str],
    page: int,
    cursor: str | None,
    next_token: str | None,
) -> Pager:
    """Remember how this page and the next are reached; link first, previous and next."""
    trail = cursor_trail(session, key)
    if page > 1 and cursor:
        trail[str(page)] = cursor
    if next_token:
        trail[str(page + 1)] = next_token
    _remember(session, key, trail)
    previous_url = None
    if page == 2:
        previous_url = page_url(path, parameters, page=1, cursor=None)
    elif page > 2 and str(page - 1) in trail:
        previous_url = page_url(
            path, parameters, page=page - 1, cursor=trail[str(page - 1)]
        )
    return Pager(
        page=page,
        first_url=page_url(path, parameters, page=1, cursor=None),
        previous_url=previous_url,
        next_url=(
            page_url(path, parameters, page=page + 1, cursor=next_token)
            if next_token
            else None
        ),
    )


def _remember(session: SessionBase, key: str, trail: dict[str, str]) -> None:
    if len(trail) > MAX_PAGES:
        # Keep the pages nearest the newest ones recorded.
        kept = sorted(trail, key=int)[-MAX_PAGES:]
        trail = {page: trail[page] for page in kept}
    trails = session.get(SESSION_KEY, {})
    if list(trails)[-1:] == [key] and trails[key] == trail:
        return  # nothing new: leave the session unmodified
    trails = {k: v for k, v in trails.items() if k != key}
    trails[key] = trail  # most recently used last
    while len(trails) > MAX_SEARCHES:
        trails.pop(next(iter(trails)))
    session[SESSION_KEY] = trails
