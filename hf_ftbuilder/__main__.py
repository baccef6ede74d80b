"""``python -m hf_ftbuilder`` runs the ``ftbuild`` command."""

import sys

from .cli import main

sys.exit(main())
