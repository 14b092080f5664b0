"""Kubeconfig YAML for lab clusters, shaped like ``aws eks update-kubeconfig`` output."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kom_async.config.yamlload import load_one

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def eks_get_token_args(cluster: str, region: str, role_arn: str | None = None) -> list[str]:
    """The arguments ``aws eks update-kubeconfig`` writes for ``aws eks get-token``."""
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster, "--output", "json"]
    if role_arn:
        args += ["--role-arn", role_arn]
    return args


def build_kubeconfig(
    *,
    entry_name: str,
    server: str,
    ca_data: str,
    user: dict[str, Any],
    context: str | None = None,
    namespace: str | None = None,
    user_name: str | None = None,
) -> str:
    """One cluster, one user, one context (named ``context`` or ``entry_name``), as YAML."""
    user_name = user_name or entry_name
    ctx: dict[str, Any] = {"cluster": entry_name, "user": user_name}
    if namespace:
        ctx["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": entry_name,
                "cluster": {"server": server, "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": context or entry_name, "context": ctx}],
        "current-context": context or entry_name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def exec_user(command: str, args: Sequence[str], env: Mapping[str, str] | None) -> dict[str, Any]:
    """A kubeconfig ``user`` entry running an exec credential plugin."""
    spec: dict[str, Any] = {"apiVersion": EXEC_API_VERSION, "command": command, "args": list(args)}
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec["interactiveMode"] = "IfAvailable"
    spec["provideClusterInfo"] = False
    return {"exec": spec}


def write_private(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, also if it existed)."""
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    return p


def merge_kubeconfigs(texts: Sequence[str]) -> str:
    """Concatenate clusters, users and contexts of several kubeconfigs; the first is current."""
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    for text in texts:
        doc = load_one(text)
        for key in ("clusters", "users", "contexts"):
            merged[key].extend(doc.get(key) or [])
        merged.setdefault("current-context", doc.get("current-context"))
    return yaml.safe_dump(merged, sort_keys=False)
