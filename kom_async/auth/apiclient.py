"""Old import path, kept working: the code lives in ``kom_async.transport.apiclient``."""

from kom_async.transport.apiclient import *  # noqa: F403
from kom_async.transport.apiclient import __all__ as __all__
from kom_async.transport.apiclient import _env_proxy as _env_proxy
