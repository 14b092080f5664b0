"""pytest fixtures for the lab: ``eks_lab`` (a fresh lab per test) and ``lab_clock``.

Enabled automatically when kom-async is installed (entry point ``kom_async_lab``), so importing
this module must cost nothing without the ``lab`` extra: the lab loads only when a fixture runs,
and then a missing extra fails that test with one line saying what to install.
Request ``lab_clock`` in a test and ``eks_lab`` uses that :class:`FakeClock`.
``eks_lab_module`` shares one lab across a module; such tests must run on the module's
event loop: ``pytestmark = pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from kom_async.errors import missing_extra

if TYPE_CHECKING:
    from kom_async.lab import EKSLab, FakeClock

try:
    import pytest_asyncio

    _HAVE_PYTEST_ASYNCIO = True
except ImportError:  # the lab's fixtures are async: without pytest-asyncio they say so when used
    _HAVE_PYTEST_ASYNCIO = False

_NEEDS_PYTEST_ASYNCIO = "needs pytest-asyncio (pip install pytest-asyncio) to run its async set-up"


def _lab_class(fixture: str) -> type[EKSLab]:
    """``EKSLab``, or the test fails with one line naming the extra to install."""
    try:
        from kom_async.lab.lab import EKSLab
    except ModuleNotFoundError as exc:
        pytest.fail(missing_extra(f"the {fixture} fixture", "lab", exc.name), pytrace=False)
    return EKSLab


@pytest.fixture
def lab_clock() -> FakeClock:
    """A :class:`~kom_async.lab.FakeClock` starting now; ``eks_lab`` uses it when requested."""
    from kom_async.lab import FakeClock

    return FakeClock()


if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def eks_lab(request: pytest.FixtureRequest) -> AsyncIterator[EKSLab]:
        """A started :class:`~kom_async.lab.EKSLab` with one cluster, "lab", closed after."""
        lab_class = _lab_class("eks_lab")
        clock = request.getfixturevalue("lab_clock") if "lab_clock" in request.fixturenames else None
        async with lab_class(clock) as lab:
            await lab.create_cluster("lab")
            yield lab

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def eks_lab_module() -> AsyncIterator[EKSLab]:
        """One :class:`~kom_async.lab.EKSLab` (with cluster "lab") shared by a test module."""
        async with _lab_class("eks_lab_module")() as lab:
            await lab.create_cluster("lab")
            yield lab

else:

    @pytest.fixture
    def eks_lab() -> None:
        """Stands in for the async fixture: fails the test with one line saying what to install."""
        pytest.fail(f"the eks_lab fixture {_NEEDS_PYTEST_ASYNCIO}", pytrace=False)

    @pytest.fixture(scope="module")
    def eks_lab_module() -> None:
        """Stands in for the async fixture: fails the test with one line saying what to install."""
        pytest.fail(f"the eks_lab_module fixture {_NEEDS_PYTEST_ASYNCIO}", pytrace=False)
