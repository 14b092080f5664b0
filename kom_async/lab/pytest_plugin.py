"""pytest fixtures for the lab: ``eks_lab`` (a fresh lab per test) and ``lab_clock``.

Enabled automatically when kom-async is installed (entry point ``kom_async_lab``).
Request ``lab_clock`` in a test and ``eks_lab`` uses that :class:`FakeClock`.
``eks_lab_module`` shares one lab across a module; such tests must run on the module's
event loop: ``pytestmark = pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kom_async.lab import EKSLab, FakeClock

try:
    import pytest_asyncio

    _HAVE_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - the plugin needs pytest-asyncio for its fixtures
    _HAVE_PYTEST_ASYNCIO = False


@pytest.fixture
def lab_clock() -> FakeClock:
    """A :class:`~kom_async.lab.FakeClock` starting now; ``eks_lab`` uses it when requested."""
    from kom_async.lab import FakeClock

    return FakeClock()


if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def eks_lab(request: pytest.FixtureRequest) -> AsyncIterator[EKSLab]:
        """A started :class:`~kom_async.lab.EKSLab` with one cluster, "lab", closed after."""
        from kom_async.lab import EKSLab

        clock = request.getfixturevalue("lab_clock") if "lab_clock" in request.fixturenames else None
        async with EKSLab(clock) as lab:
            await lab.create_cluster("lab")
            yield lab

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def eks_lab_module() -> AsyncIterator[EKSLab]:
        """One :class:`~kom_async.lab.EKSLab` (with cluster "lab") shared by a test module."""
        from kom_async.lab import EKSLab

        async with EKSLab() as lab:
            await lab.create_cluster("lab")
            yield lab
