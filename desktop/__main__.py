import sys

from desktop.demo.child import follow_parent

follow_parent()  # only does something in a child of the demo's supervisor

from desktop.cli import main  # noqa: E402 - after follow_parent, which must come first

sys.exit(main())
