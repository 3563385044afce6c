"""`python -m app` is the `registrar` command."""

import sys

from app.cli import main

sys.exit(main())
