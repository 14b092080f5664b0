"""Old import path, kept working: the code lives in ``kom_async.kubectl.models``."""

from kom_async.kubectl.models import *  # noqa: F403
from kom_async.kubectl.models import __all__ as __all__
