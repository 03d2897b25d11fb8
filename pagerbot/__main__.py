import sys

from pagerbot.cli import main

sys.exit(main())
