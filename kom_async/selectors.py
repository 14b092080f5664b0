"""Old import path, kept working: the code lives in ``kom_async.kubectl.selectors``."""

from kom_async.kubectl.selectors import *  # noqa: F403
from kom_async.kubectl.selectors import __all__ as __all__
