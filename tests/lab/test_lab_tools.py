"""Real clients against the lab: the AWS CLI, kubectl and kubernetes_asyncio."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client, config
from lab_helpers import AWS, KUBECTL, LabAPI, needs_aws, needs_kubectl, run

from kom_async.lab import EKSLab, FakeClock


async def aws_token(lab: EKSLab, cluster: str, env: dict[str, str] | None = None) -> str:
    assert AWS is not None
    rc, out, err = await run(
        AWS, "eks", "get-token", "--cluster-name", cluster, "--output", "json", env=env or lab.aws_env
    )
    assert rc == 0, err
    credential = json.loads(out)
    assert credential["kind"] == "ExecCredential"
    return str(credential["status"]["token"])


@needs_aws
async def test_aws_eks_get_token_is_accepted_and_tampering_other_clusters_and_time_are_not(
    lab_clock: FakeClock, eks_lab: EKSLab, api: LabAPI
) -> None:
    await eks_lab.create_cluster("other")
    token = await aws_token(eks_lab, "lab")
    status, body = await api.get("/api/v1/namespaces", token=token)
    assert status == 200 and body["kind"] == "NamespaceList"

    payload = token[len("k8s-aws-v1.") :]
    url = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 5
    flipped = url[:sig_at] + ("a" if url[sig_at] != "a" else "b") + url[sig_at + 1 :]
    tampered = "k8s-aws-v1." + base64.urlsafe_b64encode(flipped.encode()).decode().rstrip("=")
    status, body = await api.get("/api/v1/namespaces", token=tampered)
    assert (status, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")

    other = await aws_token(eks_lab, "other")
    assert (await api.get("/api/v1/namespaces", token=other))[0] == 401

    lab_clock.advance(14 * 60)
    assert (await api.get("/api/v1/namespaces", token=token))[0] == 200
    lab_clock.advance(61 + 5)
    status, body = await api.get("/api/v1/namespaces", token=token)
    assert status == 401 and body["code"] == 401

    stats = eks_lab.stats("lab")
    assert stats.tokens_accepted == 2 and stats.tokens_rejected == 3 and stats.unauthorized == 3


@needs_aws
async def test_describe_cluster_through_moto_returns_the_lab_endpoint_and_ca(eks_lab: EKSLab) -> None:
    assert AWS is not None
    rc, out, err = await run(AWS, "eks", "describe-cluster", "--name", "lab", env=eks_lab.aws_env)
    assert rc == 0, err
    described = json.loads(out)["cluster"]
    cluster = eks_lab.cluster("lab")
    assert described["endpoint"] == cluster.server
    assert described["status"] == "ACTIVE"
    assert base64.b64decode(described["certificateAuthority"]["data"]).decode() == cluster.ca_pem
    assert described["arn"] == cluster.arn


@needs_aws
async def test_identities_must_be_mapped_and_assumed_roles_map_through_their_role(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    assert AWS is not None
    stranger = eks_lab.create_user("stranger")
    token = await aws_token(eks_lab, "lab", eks_lab.env_for(stranger))
    assert (await api.get("/api/v1/pods", token=token))[0] == 401

    eks_lab.map_user(stranger.arn, "stranger", ["lab:view"])
    assert (await api.get("/api/v1/pods", token=token))[0] == 200
    status, body = await api.delete("/api/v1/namespaces/demo/pods/web-0", token=token)
    assert (status, body["reason"]) == (403, "Forbidden")

    role = await eks_lab.create_role("eks-admins", map_as="role-admin")
    rc, out, err = await run(
        AWS, "eks", "get-token", "--cluster-name", "lab", "--role-arn", role, env=eks_lab.aws_env
    )
    assert rc == 0, err
    role_token = json.loads(out)["status"]["token"]
    assert (await api.get("/api/v1/pods", token=role_token))[0] == 200
    assert eks_lab.stats("lab").identities[role] == 1
    assert eks_lab.aws_requests()["sts"] >= 1  # AssumeRole went through the lab endpoint

    eks_lab.unmap(role)
    assert (await api.get("/api/v1/pods", token=role_token))[0] == 401


@needs_aws
async def test_revoking_tokens_rejects_those_issued_before_and_accepts_new_ones(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    old = await aws_token(eks_lab, "lab")
    static = eks_lab.static_token("lab")
    assert (await api.get("/version", token=old))[0] == 200
    eks_lab.revoke_tokens("lab")
    assert (await api.get("/api", token=old))[0] == 401
    assert (await api.get("/api", token=static))[0] == 401
    assert (await api.get("/api", token=eks_lab.static_token("lab")))[0] == 200
    # presigning is deterministic: a token minted in the same second with the same key is
    # byte-identical to the revoked one, so a fresh token needs the next second
    await asyncio.sleep(1.0)
    assert (await api.get("/api", token=await aws_token(eks_lab, "lab")))[0] == 200


@needs_aws
@needs_kubectl
async def test_kubectl_with_the_aws_exec_kubeconfig_lists_the_seeded_pods(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    path = eks_lab.write_kubeconfig(tmp_path / "kubeconfig", "lab")
    assert path.stat().st_mode & 0o777 == 0o600
    user = yaml.safe_load(path.read_text())["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert user["args"] == [
        "--region",
        "us-east-1",
        "eks",
        "get-token",
        "--cluster-name",
        "lab",
        "--output",
        "json",
    ]

    rc, out, err = await run(KUBECTL, "--kubeconfig", str(path), "get", "pods", "-A")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "NAME", "READY"]
    assert {tuple(line.split()[:2]) for line in lines[1:]} >= {
        ("demo", "web-0"),
        ("demo", "web-1"),
        ("demo", "api-0"),
    }
    assert eks_lab.stats("lab").tokens_accepted >= 1


@needs_kubectl
async def test_kubectl_reads_writes_scales_and_cordons_with_a_static_token(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    path = str(eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True, namespace="demo"))

    async def kubectl(*args: str) -> str:
        assert KUBECTL is not None
        rc, out, err = await run(KUBECTL, "--kubeconfig", path, *args)
        assert rc == 0, err
        return out

    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kubectl\ndata:\n  a: '1'\n")
    # the lab serves no OpenAPI documents, so client-side validation is off
    assert "created" in await kubectl("apply", "--validate=false", "-f", str(manifest))
    manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
    assert "configured" in await kubectl("apply", "--validate=false", "-f", str(manifest))
    assert json.loads(await kubectl("get", "cm", "from-kubectl", "-o", "json"))["data"] == {"a": "2"}
    await kubectl("scale", "deployment/web", "--replicas=5")
    deploy = json.loads(await kubectl("get", "deploy", "web", "-o", "json"))
    assert deploy["spec"]["replicas"] == 5 and deploy["status"]["replicas"] == 5
    await kubectl("cordon", "lab-node-1")
    assert "SchedulingDisabled" in await kubectl("get", "nodes")
    assert "web-0/main" not in await kubectl("logs", "web-0", "--tail=2")
    assert (await kubectl("logs", "web-0", "--tail=2")).count("\n") == 2
    await kubectl("delete", "pod", "api-0")
    assert "api-0" not in await kubectl("get", "pods")


async def test_kubernetes_asyncio_load_kube_config_and_core_v1_work_with_a_static_token(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    path = eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True)
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        core = client.CoreV1Api(api_client)
        pods = await core.list_namespaced_pod("demo", label_selector="app=web")
        assert sorted(p.metadata.name for p in pods.items) == ["web-0", "web-1"]
        assert all(p.status.phase == "Running" for p in pods.items)
        created = await core.create_namespaced_config_map(
            "demo", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="k8s-asyncio"), data={"x": "y"})
        )
        assert created.metadata.uid and created.metadata.resource_version
        apps = client.AppsV1Api(api_client)
        scale = await apps.patch_namespaced_deployment_scale("web", "demo", {"spec": {"replicas": 4}})
        assert scale.spec.replicas == 4
        deploy = await apps.read_namespaced_deployment("web", "demo")
        assert deploy.status.replicas == 4
        log = await core.read_namespaced_pod_log("web-0", "demo", tail_lines=3)
        assert log.count("\n") == 3
        with pytest.raises(client.ApiException) as info:
            await core.read_namespaced_pod("ghost", "demo")
        assert info.value.status == 404
        assert json.loads(info.value.body)["reason"] == "NotFound"


@needs_aws
async def test_a_lab_profile_that_assumes_a_role_works_for_aws_eks_get_token(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    role = await eks_lab.create_role("profile-role", map_as="via-profile")
    eks_lab.add_profile("ops", role_arn=role)
    env = {
        k: v for k, v in eks_lab.aws_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env["AWS_PROFILE"] = "ops"
    token = await aws_token(eks_lab, "lab", env)
    assert (await api.get("/api/v1/pods", token=token))[0] == 200
    assert eks_lab.stats("lab").identities[role] == 1

    kubeconfig = yaml.safe_load(eks_lab.kubeconfig("lab", profile="ops"))
    exec_env = {e["name"]: e["value"] for e in kubeconfig["users"][0]["user"]["exec"]["env"]}
    assert exec_env["AWS_PROFILE"] == "ops" and "AWS_SECRET_ACCESS_KEY" not in exec_env
