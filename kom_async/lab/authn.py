"""Who is calling a lab cluster: static tokens, EKS tokens, the identity map, revocation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from kom_async.lab.aws import AWSCredential
from kom_async.lab.state import ClusterState, LabUser
from kom_async.lab.status import ApiError
from kom_async.lab.verifier import TOKEN_PREFIX, TokenRejected, verify_eks_token

log = logging.getLogger("kom_async.lab.authn")
ADMIN_GROUPS = ("system:masters",)
VIEW_GROUP = "lab:view"
READ_VERBS = frozenset({"get", "list", "watch"})


class IdentityMap:
    """The aws-auth ConfigMap in miniature: mapRoles and mapUsers by canonical ARN."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, tuple[str, ...]]] = {}
        #: identities refused (401) on exec/port-forward upgrades only, mapped for the rest
        self.upgrades_refused: set[str] = set()

    def map(self, arn: str, username: str, groups: Collection[str] = ADMIN_GROUPS) -> None:
        """Map ``arn`` (a role or user ARN) to a Kubernetes user and groups."""
        self.entries[arn] = (username, tuple(groups))

    def unmap(self, arn: str) -> None:
        """Forget ``arn``; its tokens get 401 from now on."""
        self.entries.pop(arn, None)

    def resolve(self, arn: str, *, upgrade: bool = False) -> tuple[str, tuple[str, ...]] | None:
        """The user and groups for ``arn``, if mapped (for a WebSocket ``upgrade``: and not refused)."""
        if upgrade and arn in self.upgrades_refused:
            return None
        return self.entries.get(arn)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", reason="Unauthorized")


class Authenticator:
    """Turns a bearer token into a :class:`LabUser` for one cluster, or raises 401."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        lookup: Callable[[str], AWSCredential | None],
        local_sts_hosts: Callable[[], Collection[str]],
        identities: IdentityMap,
    ) -> None:
        self._now = now
        self._lookup = lookup
        self._local_sts_hosts = local_sts_hosts
        self.identities = identities

    def authenticate(self, state: ClusterState, token: str, *, upgrade: bool = False) -> LabUser:
        """Verify ``token`` for ``state``'s cluster (``upgrade``: of a WebSocket upgrade);
        count the outcome in its stats."""
        stats = state.stats
        digest = _digest(token)
        if digest in state.revoked_hashes:
            return self._reject(state, "token revoked")
        static = state.static_tokens.get(token)
        if static is not None:
            stats.static_tokens_accepted += 1
            stats.identities[f"static:{static.username}"] += 1
            return static
        if not token.startswith(TOKEN_PREFIX):
            return self._reject(state, "not an EKS token and not a static token")
        now = self._now()
        try:
            ident = verify_eks_token(
                token,
                cluster_id=state.name,
                now=now,
                lookup=self._lookup,
                local_sts_hosts=self._local_sts_hosts(),
            )
        except TokenRejected as exc:
            return self._reject(state, exc.reason)
        if state.revoked_before is not None and ident.signed_at < state.revoked_before.replace(microsecond=0):
            return self._reject(state, "token revoked")
        mapped = self.identities.resolve(ident.arn, upgrade=upgrade)
        if mapped is None:
            return self._reject(state, "identity is not mapped in the cluster")
        stats.tokens_accepted += 1
        stats.identities[ident.arn] += 1
        if len(state.seen_hashes) > 4096:
            cutoff = now - timedelta(minutes=16)
            state.seen_hashes = {h: t for h, t in state.seen_hashes.items() if t >= cutoff}
        state.seen_hashes[digest] = ident.signed_at
        return LabUser(mapped[0], mapped[1], ident.arn)

    def _reject(self, state: ClusterState, reason: str) -> LabUser:
        state.stats.tokens_rejected += 1
        state.stats.rejections[reason] += 1
        log.debug("lab cluster %s rejected a token: %s", state.name, reason)
        raise _unauthorized()

    def revoke(self, state: ClusterState) -> None:
        """Reject every token issued (or seen) before now, including static tokens."""
        state.revoked_before = self._now()
        state.revoked_hashes.update(state.seen_hashes)
        state.seen_hashes.clear()
        for token in list(state.static_tokens):
            state.revoked_hashes.add(_digest(token))
        state.static_tokens.clear()
        state.rotate_default_static_token()


def authorize(user: LabUser, verb: str) -> bool:
    """Admins may do anything; ``lab:view`` members may read; everyone else nothing."""
    if any(g in ADMIN_GROUPS for g in user.groups):
        return True
    return VIEW_GROUP in user.groups and verb in READ_VERBS
