"""dryRun=All, deletecollection with selectors, and paging over thousands of objects (410 included)."""

from __future__ import annotations

import asyncio
import json

from lab_helpers import LabAPI, pod

from kom_async.lab import EKSLab

PODS = "/api/v1/namespaces/demo/pods"
CMS = "/api/v1/namespaces/demo/configmaps"
DRY = {"dryRun": "All"}


async def test_dry_run_create_update_patch_and_delete_answer_as_if_done_and_store_nothing(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    rv_before = (await api.get(PODS))[1]["metadata"]["resourceVersion"]
    status, body = await api.post(PODS, pod("dry", {"app": "dry"}), params=DRY)
    assert status == 201 and body["metadata"]["uid"] and body["status"]["phase"] == "Running"
    assert "resourceVersion" not in body["metadata"]
    assert (await api.get(f"{PODS}/dry"))[0] == 404

    status, web0 = await api.get(f"{PODS}/web-0")
    changed = json.loads(json.dumps(web0))
    changed["metadata"]["labels"]["dry"] = "run"
    status, body = await api.put(f"{PODS}/web-0", changed, params=DRY)
    assert status == 200 and body["metadata"]["labels"]["dry"] == "run"
    assert body["metadata"]["resourceVersion"] == web0["metadata"]["resourceVersion"]
    for ctype, patch in (
        ("application/merge-patch+json", {"metadata": {"labels": {"dry": "merge"}}}),
        ("application/strategic-merge-patch+json", {"metadata": {"labels": {"dry": "smp"}}}),
        ("application/json-patch+json", [{"op": "add", "path": "/metadata/labels/dry", "value": "jp"}]),
    ):
        status, body = await api.patch(f"{PODS}/web-0", patch, ctype, params=DRY)
        assert status == 200 and "dry" in body["metadata"]["labels"], ctype
    applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied-dry\ndata:\n  k: v\n"
    status, body = await api.patch(
        f"{CMS}/applied-dry", applied, "application/apply-patch+yaml", params={**DRY, "fieldManager": "t"}
    )
    assert status == 201 and body["data"] == {"k": "v"}
    assert (await api.get(f"{CMS}/applied-dry"))[0] == 404
    status, body = await api.delete(f"{PODS}/web-0", params=DRY)
    assert status == 200 and body["metadata"]["name"] == "web-0"
    status, body = await api.delete("/api/v1/namespaces/demo", params=DRY)
    assert status == 200
    status, body = await api.delete(PODS, params={**DRY, "labelSelector": "app=web"})
    assert status == 200 and len(body["items"]) == 2

    assert (await api.get(f"{PODS}/web-0"))[1] == web0
    assert (await api.get(PODS))[1]["metadata"]["resourceVersion"] == rv_before
    assert (await api.get("/api/v1/namespaces/demo"))[0] == 200


async def test_dry_run_still_validates_and_refuses_unknown_values(api: LabAPI) -> None:
    status, body = await api.post(PODS, pod("Bad_Name"), params=DRY)
    assert (status, body["reason"]) == (422, "Invalid")
    status, body = await api.post(PODS, pod("web-0"), params=DRY)
    assert (status, body["reason"]) == (409, "AlreadyExists")
    status, body = await api.post(PODS, pod("x"), params={"dryRun": "true"})
    assert status == 422 and "supported values" in body["message"]
    status, web0 = await api.get(f"{PODS}/web-0")
    web0["metadata"]["resourceVersion"] = "1"
    status, body = await api.put(f"{PODS}/web-0", web0, params=DRY)
    assert (status, body["reason"]) == (409, "Conflict")
    status, body = await api.delete(f"{PODS}/ghost", params=DRY)
    assert status == 404


async def test_delete_collection_by_label_and_field_selector_in_one_namespace(api: LabAPI) -> None:
    for i in range(4):
        await api.post(PODS, pod(f"batch-{i}", {"job": "batch", "n": str(i % 2)}))
    status, body = await api.delete(PODS, params={"labelSelector": "job=batch,n=1"})
    assert status == 200 and body["kind"] == "PodList"
    assert sorted(p["metadata"]["name"] for p in body["items"]) == ["batch-1", "batch-3"]
    status, body = await api.delete(PODS, params={"fieldSelector": "metadata.name=batch-0"})
    assert [p["metadata"]["name"] for p in body["items"]] == ["batch-0"]
    names = [p["metadata"]["name"] for p in (await api.get(PODS))[1]["items"]]
    assert "batch-2" in names and not {"batch-0", "batch-1", "batch-3"} & set(names)
    assert (await api.get("/api/v1/namespaces/kube-system/pods/coredns-0"))[0] == 200
    status, body = await api.delete("/api/v1/pods", params={"labelSelector": "job=batch"})
    assert status == 405  # no deletecollection across namespaces, as in a real server
    status, body = await api.post("/api/v1/pods", pod("nowhere"))
    assert status == 405
    status, body = await api.delete(PODS, params={"labelSelector": "job in (("})
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_paging_over_2500_objects_sees_each_once_in_a_consistent_snapshot(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    state = eks_lab._state("lab")
    rt = state.types.find("", "v1", "configmaps")
    assert rt is not None
    for i in range(2600):  # straight into the store: 2600 HTTP creates would only test the network
        state.store.create(rt, "demo", {"metadata": {"name": f"cm-{i:05d}", "labels": {"odd": str(i % 2)}}})
    seen: list[str] = []
    params = {"limit": "500"}
    pages = 0
    list_rv = None
    while True:
        status, body = await api.get(CMS, params=params)
        assert status == 200
        pages += 1
        list_rv = list_rv or body["metadata"]["resourceVersion"]
        assert body["metadata"]["resourceVersion"] == list_rv
        seen += [c["metadata"]["name"] for c in body["items"]]
        if pages == 1:  # writes during paging do not show up in later pages
            await api.post(CMS, {"metadata": {"name": "zz-late"}})
            await api.delete(f"{CMS}/cm-02599")
        token = body["metadata"].get("continue")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == 2601 - len(seen)
        params["continue"] = token
    assert pages == 6 and len(seen) == 2601 and seen == sorted(set(seen))
    assert "zz-late" not in seen and "cm-02599" in seen

    odd: list[str] = []
    params = {"limit": "700", "labelSelector": "odd=1"}
    while True:
        body = (await api.get(CMS, params=params))[1]
        odd += [c["metadata"]["name"] for c in body["items"]]
        assert "remainingItemCount" not in body["metadata"]
        if not body["metadata"].get("continue"):
            break
        params["continue"] = body["metadata"]["continue"]
    assert len(odd) == 1299 and all(int(n[3:]) % 2 for n in odd)  # cm-02599 was deleted above


async def test_an_expired_continue_token_answers_410_with_an_inconsistent_token_and_garbage_400(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    for i in range(5):
        await api.post(CMS, {"metadata": {"name": f"page-{i}"}})
    first = (await api.get(CMS, params={"limit": "2"}))[1]
    token = first["metadata"]["continue"]
    eks_lab.compact("lab")
    await api.post(CMS, {"metadata": {"name": "page-9"}})
    status, body = await api.get(CMS, params={"limit": "2", "continue": token})
    assert (status, body["reason"], body["code"]) == (410, "Expired", 410)
    assert "too old to display a consistent list result" in body["message"]
    rest: list[str] = []
    params = {"limit": "2", "continue": body["metadata"]["continue"]}
    while True:
        status, body = await api.get(CMS, params=params)
        assert status == 200
        rest += [c["metadata"]["name"] for c in body["items"]]
        if not body["metadata"].get("continue"):
            break
        params["continue"] = body["metadata"]["continue"]
    assert rest == ["page-2", "page-3", "page-4", "page-9", "web-config"]  # inconsistent: sees page-9
    for garbage in ("!!", "e30", "eyJydiI6IDF9", "x" * 5000, token[:-3]):
        status, body = await api.get(CMS, params={"limit": "2", "continue": garbage})
        assert (status, body["reason"]) == (400, "BadRequest"), garbage


async def test_many_paged_lists_at_once_each_keep_their_own_snapshot(api: LabAPI) -> None:
    for i in range(6):
        await api.post(CMS, {"metadata": {"name": f"snap-{i}"}})

    async def walk() -> list[str]:
        names: list[str] = []
        params = {"limit": "2"}
        while True:
            body = (await api.get(CMS, params=params))[1]
            names += [c["metadata"]["name"] for c in body["items"]]
            if not body["metadata"].get("continue"):
                return names
            params["continue"] = body["metadata"]["continue"]
            await api.post(CMS, {"metadata": {"generateName": "noise-"}})

    results = await asyncio.gather(*(walk() for _ in range(4)))
    for names in results:
        assert len(names) == len(set(names)) and {f"snap-{i}" for i in range(6)} <= set(names)
