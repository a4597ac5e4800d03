from __future__ import annotations

import sys

from ocpp_gateway.simulator.cli import main

sys.exit(main())
