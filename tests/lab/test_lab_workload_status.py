"""Lab workloads carry the status their controllers would set, so waiting on a condition works:
the SDK's ``wait("condition=Available")`` and the real ``kubectl wait`` against the lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lab_helpers import KUBECTL, needs_kubectl, run

from kom_async import Clusters
from kom_async.lab import EKSLab


def template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": "busybox:1.36"}], "restartPolicy": "Never"},
    }


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj["status"].get("conditions", [])}


async def test_the_sdk_waits_for_deployment_and_job_conditions_and_every_workload_reports_its_replicas(
    eks_lab: EKSLab,
) -> None:
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", env=eks_lab.aws_env)
        [web] = await k.deployment("web", "demo").wait("condition=Available", timeout=120)
        assert conditions(web) == {"Available": "True", "Progressing": "True"}
        assert web["status"]["observedGeneration"] == web["metadata"]["generation"]
        assert web["status"]["readyReplicas"] == 2

        # a new generation is observed at once: the wait does not see a stale condition
        await k.deployment("web", "demo").scale(4)
        [web] = await k.deployment("web", "demo").wait("condition=Progressing", timeout=120)
        assert web["metadata"]["generation"] == web["status"]["observedGeneration"] == 2
        assert web["status"]["availableReplicas"] == 4

        jobs = k.resource("jobs").namespace("demo")
        await jobs.create({"metadata": {"name": "once"}, "spec": {"template": template("once")}})
        [job] = await jobs.name("once").wait("condition=Complete", timeout=120)
        assert job["status"]["succeeded"] == 1
        assert conditions(job) == {"SuccessCriteriaMet": "True", "Complete": "True"}

        selector = {"matchLabels": {"app": "db"}}
        body = {"spec": {"replicas": 3, "selector": selector, "template": template("db")}}
        sts = await k.resource("sts").namespace("demo").create({"metadata": {"name": "db"}, **body})
        assert sts["status"]["readyReplicas"] == 3
        assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
        rs = await k.resource("rs").namespace("demo").create({"metadata": {"name": "db-1"}, **body})
        assert rs["status"]["availableReplicas"] == 3
        ds_body = {"spec": {"selector": selector, "template": template("db")}}
        ds = await k.resource("ds").namespace("demo").create({"metadata": {"name": "agent"}, **ds_body})
        assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] == 2


@needs_kubectl
@pytest.mark.timeout(180)
async def test_kubectl_wait_for_condition_returns_on_lab_workloads(eks_lab: EKSLab, tmp_path: Path) -> None:
    assert KUBECTL is not None
    kc = str(eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True, namespace="demo"))
    kubectl = (KUBECTL, "--kubeconfig", kc)
    rc, out, err = await run(
        *kubectl, "wait", "--for=condition=Available", "deployment/web", "--timeout=60s", timeout=90
    )
    assert (rc, out.strip(), err) == (0, "deployment.apps/web condition met", "")

    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: once, image: busybox:1.36}]\n"
    )
    rc, out, err = await run(*kubectl, "create", "--validate=false", "-f", str(job), timeout=60)
    assert rc == 0, err
    rc, out, err = await run(
        *kubectl, "wait", "--for=condition=Complete", "job/once", "--timeout=60s", timeout=90
    )
    assert (rc, out.strip(), err) == (0, "job.batch/once condition met", "")
