"""Old import path, kept working: the code lives in ``kom_async.kubectl.apply``."""

from kom_async.kubectl.apply import *  # noqa: F403
from kom_async.kubectl.apply import __all__ as __all__
