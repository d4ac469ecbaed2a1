"""Reads for the browse-and-search pages: data stores, one page of search results, one image set.

Every call goes through the HealthImaging gateway; its errors pass through untouched, except an
expired or foreign paging cursor, which is an expected state of old links, not a failure.
"""

import functools
from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase

from apps.healthimaging import errors
from apps.healthimaging.gateway import get_gateway
from apps.healthimaging.types import Datastore, ImageSet, ImageSetSummary
from apps.imagesets import paging
from apps.imagesets.metadata import MetadataTree, metadata_tree


@dataclass(frozen=True)
class SearchResults:
    """One page of results; `expired` when the cursor that led here is no longer accepted."""

    items: tuple[ImageSetSummary, ...] = ()
    next_token: str | None = None
    expired: bool = False


@dataclass(frozen=True)
class ImageSetDetail:
    datastore: Datastore
    image_set: ImageSet
    document: dict

    @functools.cached_property
    def tree(self) -> MetadataTree:
        return metadata_tree(self.document)


def datastore_list() -> list[Datastore]:
    """Every data store (all pages of ListDatastores), by name."""
    return sorted(
        get_gateway().list_datastores(),
        key=lambda datastore: (datastore.name.casefold(), datastore.datastore_id),
    )


def datastore_get(*, datastore_id: str) -> Datastore:
    return get_gateway().get_datastore(datastore_id)


def image_set_search(
    *,
    datastore_id: str,
    criteria: dict,
    page_size: int,
    page: int = 1,
    cursor: str | None = None,
) -> SearchResults:
    """Page `page` of a search with exactly one SearchImageSets call.

    `cursor` is the nextToken that leads to that page; a later page without one can not be
    fetched in one call, so it counts as expired, like a cursor the service refuses.
    """
    if page > 1 and not cursor:
        return SearchResults(expired=True)
    try:
        page = get_gateway().search_image_sets(
            datastore_id, criteria=criteria, max_results=page_size, next_token=cursor
        )
    except errors.InvalidRequest:
        # The service binds nextToken to its search and expires it; an old bookmark or a
        # cursor from another search is refused. Without a cursor it is a real error.
        if cursor:
            return SearchResults(expired=True)
        raise
    return SearchResults(items=page.items, next_token=page.next_token)


def image_set_results_page(
    *,
    session: SessionBase,
    datastore_id: str,
    path: str,
    parameters: dict[str, str],
    criteria: dict,
    page_size: int,
    page: int,
    cursor: str | None,
) -> tuple[SearchResults, paging.Pager]:
    """Page `page` of a search and its links, remembering the cursors for Previous page.

    `cursor` is the one in the URL; without it the session's trail for this search is used.
    """
    key = paging.trail_key(datastore_id, parameters)
    cursor = paging.cursor_for(session, key=key, page=page, given=cursor)
    results = image_set_search(
        datastore_id=datastore_id,
        criteria=criteria,
        page_size=page_size,
        page=page,
        cursor=cursor,
    )
    pager = paging.pager_build(
        session,
        key=key,
        path=path,
        parameters=parameters,
        page=page,
        # A refused cursor is not remembered: its page links back to page 1.
        cursor=None if results.expired else cursor,
        next_token=results.next_token,
    )
    return results, pager


def image_set_detail_get(*, datastore_id: str, image_set_id: str) -> ImageSetDetail:
    """The data store (for its name), the image set's properties and its metadata."""
    gateway = get_gateway()
    return ImageSetDetail(
        datastore=gateway.get_datastore(datastore_id),
        image_set=gateway.get_image_set(datastore_id, image_set_id),
        document=gateway.get_image_set_metadata(datastore_id, image_set_id),
    )


def image_set_get(*, datastore_id: str, image_set_id: str) -> ImageSet:
    """The image set's properties at its latest version."""
    return get_gateway().get_image_set(datastore_id, image_set_id)


def image_set_metadata_get(
    *, datastore_id: str, image_set_id: str, version: int | None = None
) -> dict:
    """The metadata document of `version`, or of the latest version when None."""
    return get_gateway().get_image_set_metadata(
        datastore_id, image_set_id, version=version
    )
