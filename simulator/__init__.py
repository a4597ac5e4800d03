"""Simulated OCPP 1.6J charge points.

Run them with ``python manage.py simulate`` (this platform; registers the drivers' tags when the
URL is local) or, without Django, ``python -m simulator`` against any OCPP 1.6J
central system::

    python manage.py simulate --count 20 --url ws://localhost:8000/ocpp
    python -m simulator --url wss://csms.example.com/ocpp --prefix ACME --count 5 \\
        --password s3cret --dc --power-kw 150 --tags CARD1,CARD2 --session-minutes 10-40

Stations are ``<prefix><NNN>``; each connects to ``<url>/<identity>`` (subprotocol ocpp1.6,
Basic auth with ``--password``). Nothing in this package imports Django.

How a simulated station behaves (where OCPP leaves room, what we chose):
- Boots after power-on and every reboot, retrying while Pending/Rejected at the interval given
  (a TriggerMessage(BootNotification) can get it accepted sooner). A dropped connection is not a
  reboot: it reconnects with exponential backoff and jitter, reports every connector's status
  again and sends the transaction messages it held back; it does not boot again.
- Heartbeats at the interval from BootNotification.conf / HeartbeatInterval, whatever else it
  sends. MeterValues every MeterValueSampleInterval seconds during a transaction, with the
  measurands of MeterValuesSampledData; StopTransaction carries transactionData per
  StopTxnSampledData.
- Drivers (``--auto-sessions``, on by default) plug in at random, present a tag (``--tags``, or
  one per connector ``<identity>-<connector>``), charge for ``--session-minutes`` and/or
  ``--session-kwh`` and stop with reason Local. Remote starts use the same driver plan;
  ``--session-minutes 0`` charges until stopped remotely.
- Power follows ``--power-kw`` and the charging profiles (lowest applicable limit; a station
  maximum is shared by the charging connectors; an AC limit below 6 A per phase suspends
  charging, as an EV would). Energy is integrated over time; DC stations report SoC and end
  the session (EVDisconnected) at 100 %.
- Firmware updates are simulated (no download): Downloading, Downloaded, then - once no
  session runs, and none may start meanwhile - Installing, Installed, reboot with the version
  named by the file. Diagnostics are really uploaded to http(s) locations (POST
  multipart/form-data, or PUT with ``--upload-method PUT``); other schemes fail.
- Nothing persists across runs of the simulator; within a run, configuration, local list,
  reservations and charging profiles survive reboots, as they would in a station's flash.
- Ctrl-C / SIGTERM / ``--duration`` switch the stations off cleanly: open sessions end with
  StopTransaction reason PowerLoss (so the central system has no dangling transactions), then
  the connections close. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

from simulator.config import FleetConfig, StationConfig
from simulator.runner import FleetSummary, run_fleet
from simulator.station import SimulatedStation

__all__ = ["FleetConfig", "FleetSummary", "SimulatedStation", "StationConfig", "run_fleet"]
