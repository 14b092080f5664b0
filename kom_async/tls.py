"""Old import path, kept working: the code lives in ``kom_async.config.tls``."""

from kom_async.config.tls import *  # noqa: F403
from kom_async.config.tls import __all__ as __all__
