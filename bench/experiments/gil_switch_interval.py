"""The DB thread gives up the GIL on every socket call to PostgreSQL and must get it back
from the event-loop thread, which holds it for up to the switch interval (5 ms by default).
A shorter interval bounds that wait."""

import sys

sys.setswitchinterval(0.0005)
