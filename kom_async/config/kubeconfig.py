"""Load a kubeconfig, select one context, and describe its server, TLS and auth.

Pure parsing: no network, no subprocess. Everything malformed raises ``KubeconfigError``
naming the field at fault.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from kom_async.config.files import allowed_file
from kom_async.config.readfile import KUBECONFIG_MAX, PEM_MAX, read_file
from kom_async.config.urls import canonical_server, redact_url, server_url_problem, split_userinfo
from kom_async.config.yamlload import YAMLBoundError, bound_problem, load_one
from kom_async.errors import KubeconfigError

AuthKind = Literal["token", "token-file", "client-cert", "basic", "exec", "eks-exec", "none"]

EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)


@dataclass(frozen=True)
class ExecConfig:
    """An exec credential plugin: command, args and extra env (``name -> value``).

    ``env`` may hold secrets (AWS keys), so it is left out of the repr.
    """

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    api_version: str = "client.authentication.k8s.io/v1beta1"
    install_hint: str | None = None
    provide_cluster_info: bool = False
    interactive_mode: str = "IfAvailable"

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.env))
        return (
            f"ExecConfig(command={self.command!r}, args={list(self.args)!r}, "
            f"env=<{len(self.env)} vars: {names}>, api_version={self.api_version!r})"
        )


# exec plugins that mint EKS tokens: the one place this is decided (the loader marks their
# users ``eks-exec``, the exec policy lets them run, ``config.eks`` parses their arguments)
AWS_COMMANDS = frozenset({"aws", "aws.exe", "aws.cmd"})
AUTHENTICATOR_COMMANDS = frozenset({"aws-iam-authenticator", "aws-iam-authenticator.exe"})


class _Exec(Protocol):
    """What the EKS check reads of an exec plugin (``ExecConfig`` or a raw kubeconfig's)."""

    @property
    def command(self) -> str: ...
    @property
    def args(self) -> Sequence[str]: ...


def is_aws_get_token(args: Sequence[str]) -> bool:
    """True when an ``aws`` argv runs ``eks get-token``."""
    return any(a == "eks" and list(args[i + 1 : i + 2]) == ["get-token"] for i, a in enumerate(args))


def looks_like_eks(exec_config: _Exec) -> bool:
    """True for ``aws ... eks get-token ...`` and ``aws-iam-authenticator token ...``."""
    command = os.path.basename(exec_config.command)
    args = [str(a) for a in exec_config.args]
    if command in AWS_COMMANDS:
        return is_aws_get_token(args)
    if command in AUTHENTICATOR_COMMANDS:
        return "token" in args
    return False


@dataclass(frozen=True)
class UserAuth:
    """How the selected user authenticates; which fields are set depends on ``kind``."""

    kind: AuthKind
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    #: where ``token_file`` must still lie on every re-read (an untrusted kubeconfig's allowed dirs)
    token_file_dirs: tuple[str, ...] | None = None
    client_cert_data: bytes | None = field(default=None, repr=False)
    client_key_data: bytes | None = field(default=None, repr=False)
    #: the certificate or the key was read from a file (a host credential), not given as data
    cert_from_file: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec: ExecConfig | None = None


@dataclass(frozen=True)
class KubeconfigSelection:
    """One context of a kubeconfig, resolved: server, TLS settings and user auth."""

    context_name: str
    cluster_name: str
    user_name: str
    server: str
    namespace: str | None
    ca_data: bytes | None = field(repr=False)
    insecure_skip_tls_verify: bool
    tls_server_name: str | None
    proxy_url: str | None
    auth: UserAuth
    #: the raw ``cluster`` mapping, passed to exec plugins when provideClusterInfo is set
    cluster_info: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def auth_kind(self) -> AuthKind:
        return self.auth.kind


def load_kubeconfig(
    source: str | bytes | os.PathLike[str] | Mapping[str, Any],
    *,
    context: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> KubeconfigSelection:
    """Parse ``source`` (YAML text, a path, or an already-loaded mapping) and select a context.

    Relative file references resolve against ``base_dir`` (the kubeconfig's folder for paths).
    With ``allowed_dirs`` (an untrusted kubeconfig), the path itself and every file it names
    must lie under those directories, checked before anything is read (``KubeconfigRefused``).
    """
    if isinstance(source, os.PathLike):
        path = Path(source).expanduser()
        try:
            text = read_file(path, limit=KUBECONFIG_MAX, allowed_dirs=allowed_dirs, what="kubeconfig")
        except OSError as exc:
            raise KubeconfigError(f"cannot read kubeconfig file {str(path)!r}: {exc.strerror}") from None
        base = Path(base_dir) if base_dir is not None else path.resolve().parent
        doc = _parse_yaml(text)
    elif isinstance(source, Mapping):
        problem = bound_problem(dict(source))
        if problem is not None:
            raise KubeconfigError(f"refused: {problem}")
        doc, base = dict(source), Path(base_dir or ".")
    elif isinstance(source, (str, bytes)):
        doc, base = _parse_yaml(source), Path(base_dir or ".")
    else:
        raise KubeconfigError(f"expected YAML text, a path or a mapping, got {type(source).__name__}")
    return _select(doc, context, _Files(base, allowed_dirs))


@dataclass(frozen=True)
class _Files:
    """How this kubeconfig's file references resolve: against ``base``, and (untrusted) only
    under ``allowed_dirs``."""

    base: Path
    allowed_dirs: Sequence[str | os.PathLike[str]] | None

    def path(self, name: str, field: str) -> Path:
        full = self.base / os.path.expanduser(name)
        if self.allowed_dirs is None:
            return full
        return allowed_file(full, self.allowed_dirs, what=field)

    def read(self, name: str, field: str) -> bytes:
        full = self.base / os.path.expanduser(name)
        try:
            return read_file(full, limit=PEM_MAX, allowed_dirs=self.allowed_dirs, what=field)
        except OSError as exc:
            raise KubeconfigError(f"cannot read {str(full)!r}: {exc.strerror}", field=field) from None


def _parse_yaml(text: str | bytes) -> dict[str, Any]:
    if len(text) > KUBECONFIG_MAX:
        raise KubeconfigError(f"kubeconfig is larger than {KUBECONFIG_MAX} bytes")
    if not str(text if isinstance(text, str) else text[:1]).strip():
        raise KubeconfigError("kubeconfig is empty")
    try:
        # libyaml when available: a few KB of nested brackets take the pure-Python parser
        # about a second to reject (and hit the recursion limit); libyaml refuses them at once.
        # Alias bombs, cycles and deep nesting are refused before anything walks the tree.
        doc = load_one(text)
    except YAMLBoundError as exc:
        raise KubeconfigError(f"refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KubeconfigError(f"not valid YAML{where}") from None
    except (ValueError, TypeError, RecursionError):
        raise KubeconfigError("not valid YAML") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"a kubeconfig must be a YAML mapping, got {type(doc).__name__}")
    return doc


def _named(doc: Mapping[str, Any], section: str, name: str, inner: str) -> Mapping[str, Any]:
    """Find ``name`` in a named list (``clusters``, ``users``, ``contexts``) and return its body."""
    entries = doc.get(section)
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise KubeconfigError("must be a list", field=section)
    known: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise KubeconfigError("each entry must be a mapping", field=f"{section}[{i}]")
        entry_name = entry.get("name")
        if isinstance(entry_name, str):
            known.append(entry_name)
        if entry_name == name:
            body = entry.get(inner)
            if body is None:
                body = {}
            if not isinstance(body, Mapping):
                raise KubeconfigError("must be a mapping", field=f"{section}[{name}].{inner}")
            return body
    listed = ", ".join(repr(k) for k in known[:10]) or "none"
    raise KubeconfigError(f"{name!r} is not defined (defined: {listed})", field=section)


def _opt_str(body: Mapping[str, Any], key: str, where: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise KubeconfigError(f"must be a string, got {type(value).__name__}", field=f"{where}.{key}")
    return value


def _opt_bool(body: Mapping[str, Any], key: str, where: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise KubeconfigError(f"must be true or false, got {value!r:.40}", field=f"{where}.{key}")
    return value


def _data_or_file(
    body: Mapping[str, Any], data_key: str, file_key: str, where: str, files: _Files
) -> bytes | None:
    data = _opt_str(body, data_key, where)
    if data is not None:
        try:
            return base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError("is not valid base64", field=f"{where}.{data_key}") from None
    path = _opt_str(body, file_key, where)
    if path is None:
        return None
    return files.read(path, f"{where}.{file_key}")


def _select(doc: Mapping[str, Any], context: str | None, files: _Files) -> KubeconfigSelection:
    if context is None:
        context = _opt_str(doc, "current-context", "kubeconfig")
        if context is None:
            contexts = doc.get("contexts")
            if isinstance(contexts, list) and len(contexts) == 1 and isinstance(contexts[0], Mapping):
                context = contexts[0].get("name") if isinstance(contexts[0].get("name"), str) else None
        if context is None:
            raise KubeconfigError(
                "no current-context is set: set one in the file (kubectl config use-context NAME) "
                "or name the context to use (context= in Python)",
                field="current-context",
            )
    ctx = _named(doc, "contexts", context, "context")
    where_ctx = f"contexts[{context}].context"
    cluster_name = _opt_str(ctx, "cluster", where_ctx)
    if cluster_name is None:
        raise KubeconfigError("names no cluster", field=f"{where_ctx}.cluster")
    user_name = _opt_str(ctx, "user", where_ctx)
    cluster = _named(doc, "clusters", cluster_name, "cluster")
    where_cl = f"clusters[{cluster_name}].cluster"
    server = _opt_str(cluster, "server", where_cl)
    if server is None:
        raise KubeconfigError("is missing: the API server URL is required", field=f"{where_cl}.server")
    problem = server_url_problem(server)
    if problem is not None:
        raise KubeconfigError(
            f"{redact_url(server)!r:.100} is not an API server URL: {problem}; "
            "expected https://host[:port][/path]",
            field=f"{where_cl}.server",
        )
    ca = _data_or_file(cluster, "certificate-authority-data", "certificate-authority", where_cl, files)
    if ca is not None and b"-----BEGIN CERTIFICATE-----" not in ca:
        raise KubeconfigError(
            "does not hold a PEM certificate", field=f"{where_cl}.certificate-authority-data"
        )
    user = _named(doc, "users", user_name, "user") if user_name else {}
    auth = _user_auth(user, user_name or "", files)
    server, url_user, url_password = split_userinfo(server)
    if url_user is not None and auth.kind == "none":  # credentials only in the URL: kubectl uses them
        auth = UserAuth(kind="basic", username=url_user, password=url_password or "")
    return KubeconfigSelection(
        context_name=context,
        cluster_name=cluster_name,
        user_name=user_name or "",
        server=canonical_server(server),  # the host as the transport connects to it
        namespace=_opt_str(ctx, "namespace", where_ctx),
        ca_data=ca,
        insecure_skip_tls_verify=_opt_bool(cluster, "insecure-skip-tls-verify", where_cl),
        tls_server_name=_opt_str(cluster, "tls-server-name", where_cl),
        proxy_url=_opt_str(cluster, "proxy-url", where_cl),
        auth=auth,
        cluster_info=dict(cluster),
    )


def _user_auth(user: Mapping[str, Any], user_name: str, files: _Files) -> UserAuth:
    where = f"users[{user_name}].user"
    exec_body = user.get("exec")
    if exec_body is not None:
        exec_config = _exec_config(exec_body, user_name, files.base)
        kind: AuthKind = "eks-exec" if looks_like_eks(exec_config) else "exec"
        return UserAuth(kind=kind, exec=exec_config)
    if user.get("auth-provider") is not None:
        raise KubeconfigError(
            "auth-provider plugins (gcp, azure, oidc) are not supported; use an exec plugin",
            field=f"{where}.auth-provider",
        )
    token = _opt_str(user, "token", where)
    if token is not None:
        if not token.strip().isprintable():  # it becomes an HTTP header: no line breaks
            raise KubeconfigError(
                "contains a line break or another control character", field=f"{where}.token"
            )
        return UserAuth(kind="token", token=token.strip())
    token_file = _opt_str(user, "tokenFile", where)
    if token_file is not None:
        full = files.path(token_file, f"{where}.tokenFile")
        if not full.is_file():
            raise KubeconfigError(
                f"{str(full)!r} does not exist or is not a regular file", field=f"{where}.tokenFile"
            )
        dirs = None if files.allowed_dirs is None else tuple(os.fspath(d) for d in files.allowed_dirs)
        return UserAuth(kind="token-file", token_file=str(full), token_file_dirs=dirs)
    cert = _data_or_file(user, "client-certificate-data", "client-certificate", where, files)
    key = _data_or_file(user, "client-key-data", "client-key", where, files)
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise KubeconfigError(
            "is missing: a client certificate needs both a certificate and a key", field=f"{where}.{missing}"
        )
    if cert is not None:
        from_file = not (user.get("client-certificate-data") and user.get("client-key-data"))
        return UserAuth(
            kind="client-cert", client_cert_data=cert, client_key_data=key, cert_from_file=from_file
        )
    username = _opt_str(user, "username", where)
    if username is not None:
        return UserAuth(kind="basic", username=username, password=_opt_str(user, "password", where) or "")
    return UserAuth(kind="none")


def _exec_config(body: Any, user_name: str, base: Path) -> ExecConfig:
    """An exec block, validated as client-go validates it (see docs/exec.md)."""
    # long: one check per exec field, in client-go's order, each with its own message
    where = f"users[{user_name}].user.exec"
    if not isinstance(body, Mapping):
        raise KubeconfigError("must be a mapping", field=where)
    command = _opt_str(body, "command", where)
    if command is None:
        raise KubeconfigError("is missing: an exec plugin needs a command", field=f"{where}.command")
    if "\x00" in command:
        raise KubeconfigError("must not contain NUL characters", field=f"{where}.command")
    if os.sep in command and not os.path.isabs(command) and str(base) != ".":
        # client-go: a relative path (not a bare name) is relative to the kubeconfig's folder
        command = os.path.normpath(os.path.join(base, command))
    api_version = _opt_str(body, "apiVersion", where)
    if api_version is None:
        raise KubeconfigError(
            f"apiVersion must be specified for user {user_name!r} to use an exec authentication "
            f"plugin (one of {', '.join(EXEC_API_VERSIONS)})",
            field=f"{where}.apiVersion",
        )
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"{api_version!r} is not supported; use one of {', '.join(EXEC_API_VERSIONS)}",
            field=f"{where}.apiVersion",
        )
    args = body.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise KubeconfigError("must be a list of strings", field=f"{where}.args")
    if any("\x00" in str(a) for a in args):
        raise KubeconfigError("must not contain NUL characters", field=f"{where}.args")
    env_list = body.get("env") or []
    if not isinstance(env_list, list):
        raise KubeconfigError("must be a list of {name, value} mappings", field=f"{where}.env")
    env: dict[str, str] = {}
    for i, item in enumerate(env_list):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise KubeconfigError("must be a mapping with a string name", field=f"{where}.env[{i}]")
        name = item["name"]
        if not name or "=" in name or "\x00" in name:
            raise KubeconfigError(
                "name must be non-empty, without '=' or NUL", field=f"{where}.env[{i}].name"
            )
        value = item.get("value", "")
        if value is None:
            value = ""
        if not isinstance(value, (str, int, float, bool)):
            raise KubeconfigError("value must be a string", field=f"{where}.env[{i}].value")
        if "\x00" in str(value):
            raise KubeconfigError("must not contain NUL characters", field=f"{where}.env[{i}].value")
        env[item["name"]] = str(value)
    interactive = _opt_str(body, "interactiveMode", where)
    if interactive is None:
        if api_version == "client.authentication.k8s.io/v1":
            raise KubeconfigError(
                f"interactiveMode must be specified for user {user_name!r} to use an exec "
                f"authentication plugin with {api_version} (Never, IfAvailable or Always)",
                field=f"{where}.interactiveMode",
            )
        interactive = "IfAvailable"  # v1beta1's default, as in client-go
    if interactive not in ("Never", "IfAvailable", "Always"):
        raise KubeconfigError(
            f"{interactive!r} is not one of Never, IfAvailable, Always",
            field=f"{where}.interactiveMode",
        )
    return ExecConfig(
        command=command,
        args=tuple(str(a) for a in args),
        env=env,
        api_version=api_version,
        install_hint=_opt_str(body, "installHint", where),
        provide_cluster_info=_opt_bool(body, "provideClusterInfo", where),
        interactive_mode=interactive,
    )
