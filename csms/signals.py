"""Domain events the core sends and other apps (the gateway, billing) subscribe to.

``csms`` never imports the apps built on it; when the domain has something to tell them, it
sends one of these. Receivers run synchronously in the sender's transaction; a receiver with
outside effects (a channel-layer send, a task) defers them with ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

# A station was deleted. Kwargs: ``charge_point_id``, ``identity`` and ``channel_name``, the
# channel of its consumer if it was connected ('' otherwise). Sent inside the transaction that
# deletes it: act on commit (the gateway closes the socket then).
charge_point_deleted = Signal()

# The station answered a command with a CALLRESULT. Kwargs: ``command`` (stored, state
# answered) and ``response`` (the schema-valid payload). Sent in a savepoint of the transaction
# that stores the answer: a receiver that raises rolls its own writes back, never the answer.
command_answered = Signal()

# The station never acted on a command: it answered with a CALLERROR, or the call was never
# delivered (timed out or failed while queued). Kwargs: ``command``. Receivers undo what was
# prepared for it, in the same transaction.
command_not_done = Signal()

# A session began: StartTransaction stored a new session (not for a retried start). Kwargs:
# ``transaction`` (just created). Sent inside the transaction that stores it, which is often
# the gateway's group-commit batch (no savepoint per message there): a receiver must not
# touch the database or raise; it defers its work with ``transaction.on_commit(...,
# robust=True)`` (billing snapshots the tariff then).
transaction_started = Signal()

# Meter samples were stored for sessions that had already ended (a station flushing its
# queue after the stop, or the transactionData of a StopTransaction for a session closed as
# stale). Kwargs: ``transaction_ids`` (a set of ints). Sent inside the transaction that stores
# them, possibly a gateway batch: act on commit, as for ``transaction_started``. Samples
# without an energy, power or SoC reading on no phase do not trigger it (billing's beat task
# finds those).
transaction_samples_late = Signal()

# Meter samples refreshed the live figures (last_meter_wh, last_power_w, last_soc) of running
# sessions. Kwargs: ``transaction_ids`` (a set of ints). Sent ONCE per write of the live views
# (a whole gateway batch: every station's MeterValues of that commit), inside its transaction,
# at no extra query: act on commit, as for ``transaction_started`` (the wallet pushes live
# figures to drivers and checks their balance then).
transaction_meter_updated = Signal()

# A session ended. Kwargs: ``transaction`` (stored, stopped_at set) and ``stale``: False when the
# station stopped it (StopTransaction), True when the CSMS closed it as stale (its stop_reason
# is a StaleStopReason; meter_stop is its last reading). Sent once per session, inside the
# transaction that stores the end: billing acts on commit.
transaction_stopped = Signal()
