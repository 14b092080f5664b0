"""Old import path, kept working: the code lives in ``kom_async.cli.clusters``."""

from kom_async.cli.clusters import *  # noqa: F403
from kom_async.cli.clusters import __all__ as __all__
from kom_async.cli.clusters import render_plain as render_plain
