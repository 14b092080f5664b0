"""Old import path, kept working: the code lives in ``kom_async.cli.eks``."""

import sys

from kom_async.cli.eks import *  # noqa: F403
from kom_async.cli.eks import __all__ as __all__
from kom_async.cli.eks import exec_api_version as exec_api_version

if __name__ == "__main__":
    sys.exit(main())  # noqa: F405
