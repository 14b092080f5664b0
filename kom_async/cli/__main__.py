"""``python -m kom_async.cli``: the same as the ``kom-async`` command."""

import sys

from kom_async.cli import main

sys.exit(main())
