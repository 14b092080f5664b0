"""Paging over thousands of objects, delete by selector, and server-side dry runs."""

from __future__ import annotations

import asyncio

import pytest
from kubectl_helpers import CountingApiClient

from kom_async.errors import QueryError
from kom_async.kubectl import Kubectl

pytestmark = pytest.mark.asyncio(loop_scope="module")

MANY = 2500


async def create_configmaps(kubectl: Kubectl, count: int, batch: str) -> None:
    cms = kubectl.resource("configmaps").namespace("demo")
    gate = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with gate:
            await cms.create({"metadata": {"name": f"{batch}-{i:04d}", "labels": {"batch": batch}}})

    await asyncio.gather(*(one(i) for i in range(count)))


async def test_pages_and_items_walk_2500_objects_a_page_at_a_time(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    await create_configmaps(kubectl, MANY, "many")
    cms = kubectl.resource("configmaps").namespace("demo").labels("batch=many")
    await kubectl.api_resources()

    before = api.count("/configmaps")
    sizes = [len(page) async for page in cms.pages(limit=600)]
    assert sizes == [600, 600, 600, 600, 100]
    assert api.count("/configmaps") - before == 5  # one request per page
    assert [len(page) async for page in cms.limit(1000).pages()] == [1000, 1000, 500]

    before = api.count("/configmaps")
    seen = [cm["metadata"]["name"] async for cm in cms.items(page_size=1000)]
    assert seen == sorted(seen) and len(set(seen)) == MANY
    assert api.count("/configmaps") - before == 3  # 1000 + 1000 + 500
    assert await cms.count() == MANY


async def test_delete_collection_deletes_what_the_selector_matches_and_nothing_else(kubectl: Kubectl) -> None:
    cms = kubectl.resource("configmaps").namespace("demo")
    await create_configmaps(kubectl, 5, "drop")
    await create_configmaps(kubectl, 3, "keep")
    deleted = await cms.delete_collection(label_selector="batch=drop")
    assert sorted(d["metadata"]["name"] for d in deleted) == [f"drop-{i:04d}" for i in range(5)]
    assert await cms.labels("batch=drop").count() == 0
    assert await cms.labels("batch=keep").count() == 3
    # the query's own selectors count too, and a field selector narrows further
    await cms.labels("batch=keep").delete_collection(field_selector="metadata.name=keep-0001")
    assert sorted(c["metadata"]["name"] for c in await cms.labels("batch=keep").list()) == [
        "keep-0000",
        "keep-0002",
    ]


async def test_delete_collection_without_a_selector_needs_all_true(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    cms = kubectl.resource("configmaps").namespace("demo")
    before = len(api.requests)
    with pytest.raises(QueryError, match="all=True"):
        await cms.delete_collection()
    with pytest.raises(QueryError, match="delete\\(\\)"):
        await cms.name("web-config").delete_collection(label_selector="a=b")
    with pytest.raises(QueryError, match="one namespace"):
        await cms.all_namespaces().delete_collection(label_selector="a=b")
    assert await cms.count() > 0
    assert not any(method == "DELETE" for method, _ in api.requests[before:])
