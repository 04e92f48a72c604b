import sys

from dnnconf.cli import main

sys.exit(main())
