"""The Kubernetes API stand-in: discovery, CRUD, selectors, pagination, patches, subresources."""

from __future__ import annotations

from lab_helpers import LabAPI, pod

from kom_async.lab import EKSLab

PODS = "/api/v1/namespaces/demo/pods"


async def test_version_and_health_answer_without_credentials_but_resources_do_not(api: LabAPI) -> None:
    async with api.session.get(api.cluster.server + "/version", ssl=api.ssl) as resp:
        assert resp.status == 200 and (await resp.json())["gitVersion"].startswith("v1.32")
    async with api.session.get(api.cluster.server + "/readyz", ssl=api.ssl) as resp:
        assert resp.status == 200
    async with api.session.get(api.cluster.server + PODS, ssl=api.ssl) as resp:
        body = await resp.json()
        assert resp.status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
    status, body = await api.get(PODS, token="not-a-token")
    assert status == 401 and body["code"] == 401


KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


async def test_discovery_is_aggregated_for_clients_that_ask_as_on_kubernetes_1_30(api: LabAPI) -> None:
    headers = {"Authorization": f"Bearer {api.token}", "Accept": KUBECTL_ACCEPT}
    docs = {}
    for path in ("/api", "/apis"):
        async with api.session.get(api.cluster.server + path, headers=headers, ssl=api.ssl) as resp:
            # clients pick the parser by the answer's media type, parameters included
            assert resp.status == 200 and resp.headers["Content-Type"] == AGGREGATED
            docs[path] = await resp.json()
    assert docs["/api"]["kind"] == "APIGroupDiscoveryList"
    assert docs["/api"]["apiVersion"] == "apidiscovery.k8s.io/v2"
    (core,) = docs["/api"]["items"]
    assert core["metadata"]["name"] == "" and [v["version"] for v in core["versions"]] == ["v1"]
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["shortNames"] == ["po"] and "watch" in pods["verbs"]
    assert {s["subresource"] for s in pods["subresources"]} >= {"log", "exec", "portforward"}
    groups = {item["metadata"]["name"]: item for item in docs["/apis"]["items"]}
    assert {"apps", "apiextensions.k8s.io"} <= set(groups)
    deployments = next(r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    nodes = next(r for r in core["versions"][0]["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"
    # a client that does not ask gets the legacy documents
    assert (await api.get("/api"))[1]["kind"] == "APIVersions"
    assert (await api.get("/apis", headers={"Accept": "application/json"}))[1]["kind"] == "APIGroupList"


async def test_discovery_lists_core_apps_and_apiextensions(api: LabAPI, eks_lab: EKSLab) -> None:
    eks_lab.legacy_discovery("lab")  # a pre-1.26 server ignores the aggregated media type
    status, body = await api.get("/api", headers={"Accept": KUBECTL_ACCEPT})
    assert status == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    status, body = await api.get("/apis", headers={"Accept": KUBECTL_ACCEPT})
    assert {g["name"] for g in body["groups"]} >= {"apps", "apiextensions.k8s.io"}
    status, body = await api.get("/api/v1")
    names = {r["name"] for r in body["resources"]}
    assert {"pods", "pods/log", "namespaces", "configmaps", "secrets", "services", "events", "nodes"} <= names
    status, body = await api.get("/apis/apps/v1")
    assert {"deployments", "deployments/scale"} <= {r["name"] for r in body["resources"]}
    assert (await api.get("/apis/apps"))[1]["preferredVersion"]["version"] == "v1"
    assert (await api.get("/apis/nope.example.com/v1"))[0] == 404
    eks_lab.legacy_discovery("lab", on=False)
    assert (await api.get("/api", headers={"Accept": KUBECTL_ACCEPT}))[1]["kind"] == "APIGroupDiscoveryList"


async def test_create_get_update_delete_with_kubernetes_errors(api: LabAPI) -> None:
    status, created = await api.post(PODS, pod("p1", {"app": "x"}))
    assert status == 201
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["resourceVersion"] and meta["generation"] == 1
    assert created["status"]["phase"] == "Running"

    status, body = await api.post(PODS, pod("p1"))
    assert (status, body["reason"], body["details"]["name"]) == (409, "AlreadyExists", "p1")

    status, body = await api.post(
        PODS, {"metadata": {}, "spec": {"containers": [{"name": "a", "image": "b"}]}}
    )
    assert (status, body["reason"]) == (422, "Invalid")
    status, body = await api.post(PODS, pod("Bad_Name"))
    assert (status, body["reason"]) == (422, "Invalid")
    status, body = await api.post(PODS, {"metadata": {"name": "x"}, "spec": {}})
    assert status == 422
    status, body = await api.post(PODS, {"metadata": {"generateName": "gen-"}, "spec": pod("x")["spec"]})
    assert status == 201 and body["metadata"]["name"].startswith("gen-")
    status, body = await api.post("/api/v1/namespaces/nope/pods", pod("p"))
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = await api.post(PODS, {"kind": "Service", "metadata": {"name": "s"}})
    assert (status, body["reason"]) == (400, "BadRequest")

    status, got = await api.get(f"{PODS}/p1")
    assert status == 200 and got == created
    got["metadata"]["labels"]["app"] = "y"
    status, updated = await api.put(f"{PODS}/p1", got)
    assert status == 200 and updated["metadata"]["labels"]["app"] == "y"
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    status, body = await api.put(f"{PODS}/p1", got)  # stale resourceVersion
    assert (status, body["reason"], body["code"]) == (409, "Conflict", 409)

    status, deleted = await api.delete(
        f"{PODS}/p1", params={"propagationPolicy": "Foreground", "gracePeriodSeconds": "0"}
    )
    assert status == 200 and deleted["metadata"]["name"] == "p1"
    status, body = await api.get(f"{PODS}/p1")
    assert (status, body["reason"], body["message"]) == (404, "NotFound", 'pods "p1" not found')


async def test_label_and_field_selectors(api: LabAPI) -> None:
    await api.post(PODS, pod("db-0", {"app": "db", "tier": "backend"}))

    async def names(**params: str) -> list[str]:
        status, body = await api.get("/api/v1/pods", params=params)
        assert status == 200, body
        return [p["metadata"]["name"] for p in body["items"]]

    assert await names(labelSelector="app=web") == ["web-0", "web-1"]
    assert await names(labelSelector="app==web,tier=frontend") == ["web-0", "web-1"]
    assert "web-0" not in await names(labelSelector="app!=web")
    assert await names(labelSelector="app in (db, api)") == ["api-0", "db-0"]
    assert "db-0" not in await names(labelSelector="app notin (db),tier")
    assert await names(labelSelector="!tier") == []
    assert await names(fieldSelector="metadata.name=web-1") == ["web-1"]
    assert await names(fieldSelector="metadata.namespace=kube-system") == ["coredns-0"]
    assert len(await names(fieldSelector="status.phase!=Running")) == 0
    status, body = await api.get("/api/v1/pods", params={"labelSelector": "a in (b"})
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_limit_and_continue_page_through_a_list(api: LabAPI) -> None:
    for i in range(7):
        await api.post("/api/v1/namespaces/demo/configmaps", {"metadata": {"name": f"cm-{i}"}, "data": {}})
    seen: list[str] = []
    params = {"limit": "3", "labelSelector": ""}
    pages = 0
    while True:
        status, body = await api.get("/api/v1/namespaces/demo/configmaps", params=params)
        assert status == 200
        pages += 1
        seen += [c["metadata"]["name"] for c in body["items"]]
        token = body["metadata"].get("continue")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] > 0
        params["continue"] = token
    assert pages == 3 and seen == sorted({*seen}) and len(seen) == 8  # 7 + the seeded web-config
    assert (await api.get("/api/v1/namespaces/demo/configmaps", params={"continue": "!!"}))[0] == 400


async def test_the_four_patch_flavours(api: LabAPI) -> None:
    path = "/apis/apps/v1/namespaces/demo/deployments/web"
    status, body = await api.patch(
        path, {"metadata": {"labels": {"patched": "merge"}}}, "application/merge-patch+json"
    )
    assert status == 200 and body["metadata"]["labels"] == {"app": "web", "patched": "merge"}

    smp = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.28"},
                        {"name": "sidecar", "image": "envoy"},
                    ]
                }
            }
        }
    }
    status, body = await api.patch(path, smp, "application/strategic-merge-patch+json")
    containers = body["spec"]["template"]["spec"]["containers"]
    assert status == 200 and [(c["name"], c["image"]) for c in containers] == [
        ("web", "nginx:1.28"),
        ("sidecar", "envoy"),
    ]
    assert body["metadata"]["generation"] == 2 and body["status"]["observedGeneration"] == 2

    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "remove", "path": "/metadata/labels/patched"},
    ]
    status, body = await api.patch(path, ops, "application/json-patch+json")
    assert status == 200 and body["spec"]["replicas"] == 3 and body["status"]["replicas"] == 3
    assert "patched" not in body["metadata"]["labels"]
    status, body = await api.patch(
        path, [{"op": "test", "path": "/spec/replicas", "value": 9}], "application/json-patch+json"
    )
    assert status in (400, 422)

    applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v1\n"
    cm = "/api/v1/namespaces/demo/configmaps/applied"
    status, body = await api.patch(cm, applied, "application/apply-patch+yaml")
    assert (status, body["reason"]) == (422, "Invalid")  # fieldManager is required
    status, body = await api.patch(cm, applied, "application/apply-patch+yaml", params={"fieldManager": "t"})
    assert status in (200, 201) and body["data"] == {"k": "v1"}
    status, body = await api.patch(
        cm, applied.replace("k: v1", "k: v2"), "application/apply-patch+yaml", params={"fieldManager": "t"}
    )
    assert status == 200 and body["data"] == {"k": "v2"}
    assert (await api.patch("/api/v1/namespaces/demo/configmaps/ghost", {}, "application/merge-patch+json"))[
        0
    ] == 404
    assert (await api.patch(cm, {}, "text/plain"))[0] == 415


async def test_scale_status_and_log_subresources(eks_lab: EKSLab, api: LabAPI) -> None:
    scale_path = "/apis/apps/v1/namespaces/demo/deployments/web/scale"
    status, scale = await api.get(scale_path)
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 6
    status, scale = await api.put(scale_path, scale)
    assert status == 200 and scale["spec"]["replicas"] == 6 and scale["status"]["replicas"] == 6
    status, scale = await api.patch(scale_path, {"spec": {"replicas": 0}}, "application/merge-patch+json")
    assert scale["spec"]["replicas"] == 0
    assert (await api.get("/apis/apps/v1/namespaces/demo/deployments/web"))[1]["status"]["replicas"] == 0

    status, body = await api.patch(
        "/api/v1/namespaces/demo/pods/web-0/status",
        {"status": {"phase": "Failed"}},
        "application/merge-patch+json",
    )
    assert status == 200 and body["status"]["phase"] == "Failed"
    running = await api.get("/api/v1/pods", params={"fieldSelector": "status.phase=Running"})
    assert "web-0" not in [p["metadata"]["name"] for p in running[1]["items"]]

    status, text = await api.get("/api/v1/namespaces/demo/pods/web-1/log", params={"tailLines": "3"})
    assert status == 200 and text.count("\n") == 3 and "log line 20" in text
    status, text = await api.get("/api/v1/namespaces/demo/pods/web-1/log", params={"sinceSeconds": "61"})
    assert text.count("\n") == 3
    eks_lab.set_pod_log("lab", "demo", "web-1", ["hello", "world"])
    status, text = await api.get("/api/v1/namespaces/demo/pods/web-1/log", params={"container": "web"})
    assert text == "hello\nworld\n"
    status, body = await api.get("/api/v1/namespaces/demo/pods/web-1/log", params={"container": "nope"})
    assert (status, body["reason"]) == (400, "BadRequest")


async def test_nodes_are_cluster_scoped_and_cordon_is_a_patch(api: LabAPI) -> None:
    status, body = await api.get("/api/v1/nodes")
    assert [n["metadata"]["name"] for n in body["items"]] == ["lab-node-1", "lab-node-2"]
    status, body = await api.patch(
        "/api/v1/nodes/lab-node-2",
        {"spec": {"unschedulable": True}},
        "application/strategic-merge-patch+json",
    )
    assert status == 200 and body["spec"]["unschedulable"] is True
    assert (await api.get("/api/v1/namespaces/demo/nodes"))[0] == 404


async def test_a_crd_makes_its_kind_servable_and_discoverable_until_deleted(api: LabAPI) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.lab.example.com"},
        "spec": {
            "group": "lab.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    bad = {**crd, "metadata": {"name": "wrong.name.com"}}
    assert (await api.post(crds, bad))[0] == 422
    status, body = await api.post(crds, crd)
    assert status == 201 and body["status"]["conditions"][0]["type"] == "Established"
    status, groups = await api.get("/apis")
    assert "lab.example.com" in {g["name"] for g in groups["groups"]}
    status, resources = await api.get("/apis/lab.example.com/v1")
    assert resources["resources"][0]["kind"] == "Widget" and resources["resources"][0]["shortNames"] == ["wg"]
    widgets = "/apis/lab.example.com/v1/namespaces/demo/widgets"
    status, widget = await api.post(
        widgets,
        {
            "apiVersion": "lab.example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        },
    )
    assert status == 201 and widget["kind"] == "Widget"
    assert [w["metadata"]["name"] for w in (await api.get(widgets))[1]["items"]] == ["w1"]
    assert (await api.delete(f"{crds}/widgets.lab.example.com"))[0] == 200
    assert (await api.get(widgets))[0] == 404
    assert (await api.get("/apis/lab.example.com/v1"))[0] == 404


async def test_deleting_a_namespace_deletes_what_it_contains(api: LabAPI) -> None:
    assert (await api.post("/api/v1/namespaces", {"metadata": {"name": "tmp"}}))[0] == 201
    assert (await api.post("/api/v1/namespaces/tmp/configmaps", {"metadata": {"name": "c"}}))[0] == 201
    assert (await api.delete("/api/v1/namespaces/tmp"))[0] == 200
    assert (await api.get("/api/v1/namespaces/tmp/configmaps/c"))[0] == 404


async def test_deletecollection_deletes_what_the_selector_matches(api: LabAPI) -> None:
    status, body = await api.delete(PODS, params={"labelSelector": "app=web"})
    assert status == 200 and len(body["items"]) == 2
    assert [p["metadata"]["name"] for p in (await api.get(PODS))[1]["items"]] == ["api-0"]


async def test_counters_by_verb(eks_lab: EKSLab, api: LabAPI) -> None:
    await api.get(PODS)
    await api.get(f"{PODS}/web-0")
    await api.post("/api/v1/namespaces/demo/configmaps", {"metadata": {"name": "c"}})
    stats = eks_lab.stats("lab")
    assert stats.verbs["list"] == 1 and stats.verbs["get"] == 1 and stats.verbs["create"] == 1
    assert stats.static_tokens_accepted == 3 and stats.requests == 3


async def test_trailing_slashes_are_accepted_as_kubernetes_asyncio_sends_them(api: LabAPI) -> None:
    status, body = await api.get("/version/")
    assert status == 200 and body["major"] == "1"
    assert (await api.get("/api/v1/namespaces/"))[0] == 200


MALFORMED_BODIES = [
    b"",
    b"null",
    b"[]",
    b"1",
    b"{",
    b'{"metadata": 1}',
    b'{"metadata": {"name": 5}}',
    b'{"metadata": {"name": "a", "labels": {"a": 1}}}',
    b'{"metadata": {"name": "a"}, "spec": 3}',
    b'{"metadata": {"name": "a"}, "spec": {"containers": [1]}}',
    b'[{"op": "add", "path": "/a/b/c", "value": 1}]',
    b'[{"op": "move", "from": "/x", "path": "/y"}]',
    b'{"status": 5}',
    b'{"spec": {"replicas": -1}}',
    b"\xff\xfe",
]
FUZZ_PATHS = [
    PODS,
    f"{PODS}/web-0",
    f"{PODS}/web-0/status",
    "/apis/apps/v1/namespaces/demo/deployments/web",
    "/apis/apps/v1/namespaces/demo/deployments/web/scale",
    "/api/v1/namespaces/demo",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
]
PATCH_TYPES = [
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
]


async def test_malformed_writes_get_4xx_statuses_never_5xx(api: LabAPI) -> None:
    answered = 0
    for path in FUZZ_PATHS:
        for body in MALFORMED_BODIES:
            calls = [("POST", "application/json"), ("PUT", "application/json")]
            calls += [("PATCH", ctype) for ctype in PATCH_TYPES]
            for method, ctype in calls:
                status, reply = await api.request(
                    method, path, body=body, content_type=ctype, params={"fieldManager": "fuzz"}
                )
                assert status < 500, (method, path, body, ctype, reply)
                if status >= 400:
                    assert reply["kind"] == "Status" and reply["code"] == status
                answered += 1
    assert answered == len(FUZZ_PATHS) * len(MALFORMED_BODIES) * 6
