"""``python -m trm.demo up|status|down|code`` (:mod:`trm.demo.federation`)."""

import sys

from trm.demo.federation import main

sys.exit(main())
