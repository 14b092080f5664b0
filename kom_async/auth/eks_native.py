"""Old import path, kept working: the code lives in ``kom_async.auth.eks.native``."""

from kom_async.auth.eks.native import *  # noqa: F403
from kom_async.auth.eks.native import __all__ as __all__
