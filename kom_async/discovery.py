"""Old import path, kept working: the code lives in ``kom_async.kubectl.discovery``."""

from kom_async.kubectl.discovery import *  # noqa: F403
from kom_async.kubectl.discovery import __all__ as __all__
