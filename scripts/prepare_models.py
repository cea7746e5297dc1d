"""Train, evaluate and export the shipped models (the lab's `homeiq_lab.prepare`).

.venv/bin/python scripts/prepare_models.py            # the shipped models
.venv/bin/python scripts/prepare_models.py --quick    # a small smoke run
"""

import sys

from homeiq_lab.prepare import main

if __name__ == "__main__":
    sys.exit(main())
