"""Old import path, kept working: the code lives in ``kom_async.config.eks``."""

from kom_async.config.eks import *  # noqa: F403
from kom_async.config.eks import __all__ as __all__
