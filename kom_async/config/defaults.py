"""The configuration kubectl would use: ``$KUBECONFIG`` (merged as kubectl merges it), else
``~/.kube/config``.

kubectl's rules: ``$KUBECONFIG`` is a list of files (``:``-separated, ``;`` on Windows);
empty entries, repeats and files that do not exist are skipped. The first file that
defines a cluster, user or context by name wins that name, and the first file that sets
``current-context`` wins it. Relative paths in each file (CA, client certificate and key,
``tokenFile``, an exec command containing ``/``) resolve against that file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kom_async.config.readfile import KUBECONFIG_MAX, read_file
from kom_async.config.yamlload import YAMLBoundError, load_one
from kom_async.errors import KubeconfigError

_NAMED = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
_CLUSTER_FILES = ("certificate-authority",)
_USER_FILES = ("client-certificate", "client-key", "tokenFile")


def default_kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl reads, in precedence order (only those that exist)."""
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    if listed.strip():
        seen: list[Path] = []
        for entry in listed.split(os.pathsep):
            if not entry.strip():
                continue
            path = Path(entry).expanduser()
            if path not in seen and path.is_file():
                seen.append(path)
        if not seen:
            raise KubeconfigError(f"$KUBECONFIG names no existing file ({listed!r})")
        return seen
    home = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    if not home.is_file():
        raise KubeconfigError(f"no kubeconfig: $KUBECONFIG is not set and {str(home)!r} does not exist")
    return [home]


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
        return os.path.normpath(os.path.join(base, os.path.expanduser(value)))
    return value


def _resolved(section: str, body: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A copy of one entry's body with its relative file references made absolute."""
    out = dict(body)
    for key in _CLUSTER_FILES if section == "clusters" else _USER_FILES if section == "users" else ():
        if key in out:
            out[key] = _absolute(out[key], base)
    exec_body = out.get("exec") if section == "users" else None
    if isinstance(exec_body, Mapping):
        command = exec_body.get("command")
        if isinstance(command, str) and os.sep in command:
            out["exec"] = {**exec_body, "command": _absolute(command, base)}
    return out


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = load_one(read_file(path, limit=KUBECONFIG_MAX, what="kubeconfig"))
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig file {str(path)!r}: {exc.strerror}") from None
    except YAMLBoundError as exc:
        raise KubeconfigError(f"kubeconfig file {str(path)!r} is refused: {exc}") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        raise KubeconfigError(f"kubeconfig file {str(path)!r} is not valid YAML") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig file {str(path)!r} is not a YAML mapping")
    return doc


def merge_kubeconfigs(paths: list[Path]) -> dict[str, Any]:
    """One kubeconfig mapping from ``paths``, merged with kubectl's first-wins rules."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    named: dict[str, dict[str, dict[str, Any]]] = {section: {} for section, _ in _NAMED}
    for path in paths:
        doc = _load(path)
        base = path.resolve().parent
        if "current-context" not in merged and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section, inner in _NAMED:
            entries = doc.get(section) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"must be a list in {str(path)!r}", field=section)
            for entry in entries:
                if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                    continue  # the merged document's own validation reports what is missing
                if entry["name"] in named[section]:
                    continue  # the first file that defines a name wins it
                body = entry.get(inner)
                if isinstance(body, Mapping):
                    body = _resolved(section, body, base)
                named[section][entry["name"]] = {"name": entry["name"], inner: body}
    for section, _ in _NAMED:
        merged[section] = list(named[section].values())
    return merged
