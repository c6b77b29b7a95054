"""Entry point: `python -m training ...` (see training/offline/cli.py)."""

from training.offline.cli import main

raise SystemExit(main())
