"""Old import path, kept working: the code lives in ``kom_async.config.kubeconfig``."""

from kom_async.config.kubeconfig import *  # noqa: F403
from kom_async.config.kubeconfig import __all__ as __all__
