"""``python -m trm.demo up|status|down|code`` (:mod:`trm.demo.federation`)."""

import sys

from trm.demo.federation import main

if __name__ == "__main__":
    sys.exit(main())
