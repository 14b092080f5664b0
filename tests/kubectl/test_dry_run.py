"""dry_run=True: the server validates and answers as if it wrote, and stores nothing."""

from __future__ import annotations

import pytest

from kom_async.errors import AlreadyExists, NotFound
from kom_async.kubectl import Kubectl

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_dry_run_create_answers_the_object_and_stores_nothing(kubectl: Kubectl) -> None:
    cms = kubectl.resource("configmaps").namespace("demo")
    answer = await cms.create({"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run=True)
    assert answer["metadata"]["name"] == "dry" and answer["data"] == {"a": "1"}
    with pytest.raises(NotFound):
        await cms.name("dry").get()
    with pytest.raises(AlreadyExists):  # the server still validates: existing names are refused
        await cms.create({"metadata": {"name": "web-config"}}, dry_run=True)


async def test_dry_run_patch_update_and_delete_leave_the_object_as_it_was(kubectl: Kubectl) -> None:
    cm = kubectl.resource("configmaps").namespace("demo").name("web-config")
    stored = await cm.get()
    patched = await cm.patch({"data": {"greeting": "changed"}}, dry_run=True)
    assert patched["data"]["greeting"] == "changed"
    replaced = await cm.update({**stored, "data": {"greeting": "replaced"}}, dry_run=True)
    assert replaced["data"]["greeting"] == "replaced"
    await cm.delete(dry_run=True)
    await kubectl.resource("configmaps").namespace("demo").delete_collection(
        field_selector="metadata.name=web-config", dry_run=True
    )
    now = await cm.get()
    assert now["data"] == {"greeting": "hello"}
    assert now["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


async def test_a_dry_run_apply_of_yaml_creates_nothing(kubectl: Kubectl) -> None:
    yaml_text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: applied-dry, namespace: demo}
data: {k: v}
"""
    stored = await kubectl.apply(yaml_text, dry_run=True)
    assert stored[0]["data"] == {"k": "v"}
    with pytest.raises(NotFound):
        await kubectl.resource("configmaps").namespace("demo").name("applied-dry").get()
    stored = await kubectl.apply(yaml_text, dry_run=True, server_side=False)
    assert stored[0]["metadata"]["name"] == "applied-dry"
    with pytest.raises(NotFound):
        await kubectl.resource("configmaps").namespace("demo").name("applied-dry").get()
