"""Query.page(): one list request at a time, the caller holding the continue token."""

from __future__ import annotations

from typing import Any

import pytest
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import V1ConfigMap

from kom_async.errors import QueryError
from kom_async.kubectl import Kubectl, Page

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def make_configmaps(kubectl: Kubectl, count: int, batch: str) -> None:
    cms = kubectl.resource("cm").namespace("demo")
    for i in range(count):
        await cms.create({"metadata": {"name": f"{batch}-{i}", "labels": {"batch": batch}}})


def names(objs: list[Any]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


async def test_a_caller_pages_through_a_list_with_the_continue_token(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    await make_configmaps(kubectl, 5, "pg")
    cms = kubectl.resource("configmaps").namespace("demo").labels("batch=pg")
    await kubectl.api_resources()
    before = api.count("/configmaps")
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        page = await cms.page(limit=2, continue_token=token)
        assert isinstance(page, Page)
        seen += names(page.items)
        sizes.append(len(page.items))
        token = page.continue_token
        if token is None:
            break
    assert sizes == [2, 2, 1]
    assert sorted(seen) == [f"pg-{i}" for i in range(5)]
    assert api.count("/configmaps") - before == 3  # one request per page
    assert page.resource_version


async def test_without_selectors_a_page_says_how_many_objects_remain(kubectl: Kubectl) -> None:
    await kubectl.resource("namespaces").create({"metadata": {"name": "paged"}})
    cms = kubectl.resource("configmaps").namespace("paged")
    for i in range(5):
        await cms.create({"metadata": {"name": f"r-{i}"}})
    total = len(await cms.list())
    first = await cms.page(limit=2)
    assert first.continue_token is not None
    assert first.remaining == total - 2  # the server's remainingItemCount
    last = await cms.page(limit=total, continue_token=first.continue_token)
    assert last.continue_token is None and last.remaining is None and len(last.items) == total - 2


async def test_page_defaults_to_the_query_limit_and_returns_models(kubectl: Kubectl) -> None:
    await make_configmaps(kubectl, 3, "pm")
    page = await kubectl.resource(V1ConfigMap).namespace("demo").labels({"batch": "pm"}).limit(2).page()
    assert len(page.items) == 2 and page.continue_token is not None
    assert all(isinstance(cm, V1ConfigMap) for cm in page.items)
    rest = await kubectl.resource(V1ConfigMap).namespace("demo").labels({"batch": "pm"}).page(
        continue_token=page.continue_token
    )
    assert len(rest.items) == 1 and rest.continue_token is None


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "3"])
async def test_page_refuses_a_limit_that_is_not_a_positive_int(kubectl: Kubectl, limit: Any) -> None:
    with pytest.raises(QueryError, match="positive limit"):
        await kubectl.resource("cm").namespace("demo").page(limit=limit)
