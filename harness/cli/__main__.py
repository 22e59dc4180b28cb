"""``python -m harness.cli``: the ``tmsbench`` command without the installed script."""

from harness.cli import main

raise SystemExit(main())
