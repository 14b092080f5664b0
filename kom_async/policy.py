"""Old import path, kept working: the code lives in ``kom_async.config.policy``."""

from kom_async.config.policy import *  # noqa: F403
from kom_async.config.policy import __all__ as __all__
