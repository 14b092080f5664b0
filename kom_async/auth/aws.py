"""Old import path, kept working: the code lives in ``kom_async.auth.eks.aws``."""

from kom_async.auth.eks.aws import *  # noqa: F403
from kom_async.auth.eks.aws import __all__ as __all__
