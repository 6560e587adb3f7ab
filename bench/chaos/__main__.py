"""`python -m bench.chaos`: the fault suite (see bench/chaos/suite.py and docs/reliability.md)."""
import sys

from .suite import main

sys.exit(main())
