"""Old import path, kept working: the module lives in ``kom_async.config.tls``.

At run time this name is the new module itself (private names and monkeypatching included);
the star import tells type checkers what it holds.
"""

import sys

from kom_async.config import tls as _home
from kom_async.config.tls import *  # noqa: F403

sys.modules[__name__] = _home
