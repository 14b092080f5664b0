"""``kom_async.eks.get_token()`` keeps its AWS clients per event loop and closes them with it."""

from __future__ import annotations

import asyncio
import gc
import warnings

from eks_helpers import ACCESS_KEY, decode_token, url_parts

from kom_async.auth.eks.aws import AWSClientPool
from kom_async.auth.eks.default_pool import default_pool
from kom_async.eks import get_token


async def _mint_many(n: int) -> tuple[AWSClientPool, set[str]]:
    values = set()
    for _ in range(n):
        token = await get_token(cluster_name="c1", region="us-east-1")
        values.add(decode_token(token.value))
    return await default_pool(), values


def test_repeated_calls_share_one_pool_that_closes_with_the_loop(static_env: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool, urls = asyncio.run(_mint_many(50))
        gc.collect()
    assert pool.closed  # asyncio.run shut the loop's async generators down: the pool went with them
    assert all(url_parts(u)[3]["X-Amz-Credential"].startswith(ACCESS_KEY) for u in urls)
    other, _ = asyncio.run(_mint_many(1))
    assert other is not pool and other.closed  # each loop has its own


def test_one_identity_is_one_aws_context_however_often_it_mints(static_env: dict[str, str]) -> None:
    async def scenario() -> tuple[int, int]:
        await get_token(cluster_name="c1", region="us-east-1")
        pool = await default_pool()
        before = len(pool)
        await asyncio.gather(*(get_token(cluster_name=f"c{i}", region="us-east-1") for i in range(20)))
        after = len(pool)
        await get_token(cluster_name="c1", region="eu-west-1")
        return before, after * 100 + len(pool)

    before, after = asyncio.run(scenario())
    assert before == 1
    assert after == 102  # still one context for us-east-1; one more for eu-west-1
