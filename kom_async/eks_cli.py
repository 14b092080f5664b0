"""Old import path, kept working: the module lives in ``kom_async.cli.eks``.

At run time this name is the new module itself (private names and monkeypatching included);
the star import tells type checkers what it holds.
"""

import sys

from kom_async.cli import eks as _home
from kom_async.cli.eks import *  # noqa: F403

if __name__ == "__main__":  # python -m kom_async.eks_cli
    sys.exit(_home.main())
else:
    sys.modules[__name__] = _home
