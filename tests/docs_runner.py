"""Run the documentation's code blocks against one offline lab: ``python docs_runner.py PLAN OUT``.

PLAN (JSON, written by tests/test_docs.py) lists the blocks; OUT receives one result per block
id: ``{"ok": bool, "error": str, "stdout": str}``. The world every block sees: the lab's AWS
environment (so ``register_eks(cluster_name="prod", region="eu-west-1")`` reaches it), a home
folder with ``~/.kube/config`` (contexts ``prod-admin`` and ``dev-admin``), ``~/.kube/eks.yaml``
and ``~/.kube/clusters/``, an AWS profile ``platform``, and a working folder with
``kubeconfigs/dev.yaml``, ``kubeconfigs/staging.yaml``, ``a.yaml``, ``b.yaml`` and ``app.yaml``.

Fragments of one page run in order in one namespace in this process (top-level ``await``
allowed, ``asyncio`` imported, an open ``clusters = Clusters()``); scripts and shell blocks run
as processes of their own; the pytest blocks run together in one pytest process. Anything a
block writes to stderr is an error.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

import yaml

from kom_async import Clusters
from kom_async.lab import EKSLab

Result = dict[str, Any]
TIMEOUT = 120.0
APP_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: app, image: nginx:1.27}]}
"""

API_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, labels: {app: api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: ghcr.io/lab/api:1.0}]}
"""


def merged(*texts: str) -> str:
    """One kubeconfig holding every cluster, user and context of ``texts`` (current: the first's)."""
    docs = [yaml.safe_load(t) for t in texts]
    out = dict(docs[0])
    for key in ("clusters", "users", "contexts"):
        out[key] = [entry for d in docs for entry in d[key]]
    return yaml.safe_dump(out)


async def build_world(lab: EKSLab, root: Path) -> dict[str, str]:
    """Clusters, kubeconfigs and files the docs refer to; returns the environment for blocks."""
    for name, region in (("prod", "eu-west-1"), ("staging", "eu-west-1"), ("prod", "us-east-1")):
        await lab.create_cluster(name, region=region)
    await lab.create_cluster("lab", region="us-east-1")
    lab.add_profile("platform", region="us-east-1")
    home, work = root / "home", root / "work"
    kube = home / ".kube"
    (kube / "clusters").mkdir(parents=True)
    (work / "kubeconfigs").mkdir(parents=True)
    prod = lab.kubeconfig("prod", region="eu-west-1", context="prod-admin")
    staging = lab.kubeconfig("staging", region="eu-west-1", context="dev-admin")
    (kube / "config").write_text(merged(prod, staging))
    (kube / "eks.yaml").write_text(lab.kubeconfig("prod", region="us-east-1"))
    (kube / "clusters" / "prod.yaml").write_text(prod)
    (kube / "clusters" / "staging.yaml").write_text(staging)
    (work / "kubeconfigs" / "dev.yaml").write_text(lab.kubeconfig("lab", region="us-east-1", context="dev"))
    static = lab.kubeconfig("staging", region="eu-west-1", static_token=True)
    (work / "kubeconfigs" / "staging.yaml").write_text(static)
    (work / "a.yaml").write_text(prod)
    (work / "b.yaml").write_text(static)
    (work / "app.yaml").write_text(APP_YAML)
    async with Clusters() as clusters:  # what the fluent API page works on: deployment web/api
        k = await clusters.register_eks("prod", "eu-west-1", env=lab.aws_env)
        await k.resource("namespaces").create({"metadata": {"name": "web"}})
        await k.apply(API_YAML, namespace="web")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG"))}
    bin_dir = str(Path(sys.executable).parent)
    return {
        **inherited,
        **lab.aws_env,
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{inherited.get('PATH', '')}",
        "PYTHONWARNINGS": "default",
    }


async def run_process(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Result:
    """Run a block as a process: ok when it exits 0 and writes nothing to stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return {"ok": False, "error": f"still running after {TIMEOUT:.0f} s", "stdout": out.decode()}
    text = err.decode(errors="replace")
    if proc.returncode != 0 or text:
        return {"ok": False, "error": f"exit {proc.returncode}; stderr:\n{text}", "stdout": out.decode()}
    return {"ok": True, "error": "", "stdout": out.decode()}


async def run_fragment(block: dict[str, Any], ns: dict[str, Any]) -> Result:
    """Run one Python fragment in the page's namespace; its stdout and stderr are captured."""
    out, err = io.StringIO(), io.StringIO()
    code = compile(block["code"], block["id"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = eval(code, ns)  # the documented code, as a notebook cell runs it
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, TIMEOUT)
            for _ in range(5):  # let callbacks the block scheduled report (asyncio logs to stderr)
                await asyncio.sleep(0)
        except BaseException:  # reported, not raised: the next page still runs
            return {"ok": False, "error": traceback.format_exc(), "stdout": out.getvalue()}
    if err.getvalue():
        return {"ok": False, "error": f"wrote to stderr:\n{err.getvalue()}", "stdout": out.getvalue()}
    return {"ok": True, "error": "", "stdout": out.getvalue()}


async def run_page(blocks: list[dict[str, Any]], results: dict[str, Result]) -> None:
    """A page's fragments, in order, in one namespace with an open ``clusters``."""
    clusters = Clusters()
    ns: dict[str, Any] = {"__name__": "__docs__", "asyncio": asyncio, "clusters": clusters}
    try:
        for block in blocks:
            results[block["id"]] = await run_fragment(block, ns)
    finally:
        await clusters.aclose()


async def run_pytest(blocks: list[dict[str, Any]], config: str, root: Path) -> Result:
    """Every test block in one pytest process, configured as the lab page says, warnings as errors."""
    folder = root / "pytest"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(config)
    for i, block in enumerate(blocks):
        (folder / f"test_doc_block_{i}.py").write_text(block["code"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(folder)]
    result = await run_process(argv, cwd=folder, env=env)
    if result["ok"] and f"{len(blocks)} passed" not in result["stdout"]:
        result = {**result, "ok": False, "error": "not every test passed:\n" + result["stdout"]}
    elif not result["ok"]:
        result["error"] += "\n" + result["stdout"]
    return result


async def main(plan: dict[str, Any]) -> dict[str, Result]:
    """Run every block of ``plan`` that is not skipped; one result per block id."""
    runnable = [b for b in plan["blocks"] if b["skip"] is None]
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="kom-docs-") as tmp:
        root = Path(tmp)
        tests = [b for b in runnable if b["kind"] == "pytest"]
        pytest_run = asyncio.create_task(run_pytest(tests, plan["pytest_config"], root))
        async with EKSLab() as lab:
            env = await build_world(lab, root)
            work = root / "work"
            os.environ.clear()
            os.environ.update(env)
            os.chdir(work)
            scripts_env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
            done: dict[tuple[str, str], Result] = {}  # the same block on two pages runs once
            for block in runnable:
                key = (block["kind"], block["code"])
                if block["kind"] == "script" and key not in done:
                    (root / "script.py").write_text(block["code"])
                    argv = [sys.executable, str(root / "script.py")]
                    done[key] = await run_process(argv, cwd=work, env=scripts_env)
                elif block["kind"] == "shell" and key not in done:
                    argv = ["bash", "-eo", "pipefail", "-c", block["code"]]
                    done[key] = await run_process(argv, cwd=work, env=env)
                if key in done:
                    results[block["id"]] = done[key]
            for path in dict.fromkeys(b["path"] for b in runnable):
                page = [b for b in runnable if b["path"] == path and b["kind"] == "fragment"]
                await run_page(page, results)
        pytest_result = await pytest_run
        for block in tests:
            results[block["id"]] = pytest_result
    return results


if __name__ == "__main__":
    warnings.simplefilter("default")  # a warning a block causes is shown, so it is stderr noise
    results = asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
    Path(sys.argv[2]).write_text(json.dumps(results, indent=1))
