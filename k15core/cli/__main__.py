"""`python -m k15core.cli ...` (and `torchrun ... -m k15core.cli train ...`): the `k15` command."""
import sys

from k15core.cli import main

sys.exit(main())
