"""Old import path, kept working: the code lives in ``kom_async.transport.rest``."""

from kom_async.transport.rest import *  # noqa: F403
from kom_async.transport.rest import __all__ as __all__
from kom_async.transport.rest import encode_query as encode_query
