"""Old import path, kept working: the code lives in ``kom_async.transport.retry``."""

from kom_async.transport.retry import *  # noqa: F403
from kom_async.transport.retry import DEFAULT_RETRY_POLICY as DEFAULT_RETRY_POLICY
from kom_async.transport.retry import IDEMPOTENT_METHODS as IDEMPOTENT_METHODS
from kom_async.transport.retry import __all__ as __all__
