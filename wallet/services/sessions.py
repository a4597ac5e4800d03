"""Sessions started from the app, and their state machine::

    starting --StartTransaction--> charging --stop asked--> stopping --order settled--> finished
       |                              |                                                   ^
       |                              +--the station stops by itself (cause station)------+
       +--Rejected / not delivered / no StartTransaction by start_deadline / canceled--> failed

- ``app_session_start``: checks the connector and the wallet, holds money, sends
  RemoteStartTransaction (on commit). A retry with the same Idempotency-Key returns the same
  session.
- The station answers Rejected (or the call is never delivered): ``app_session_start_failed``.
  No StartTransaction by ``start_deadline``: ``app_sessions_expire`` (beat). Either way the
  hold is released (key ``session:<pk>:release-failed``: ``release-final`` stays settlement's).
- StartTransaction with the wallet's virtual tag on that connector: ``app_session_link``.
  A StartTransaction that comes after the session failed is still the driver's session: it
  is linked again and charges with a new hold (``session:<pk>:hold:late``) if the wallet has
  the minimum balance; otherwise (or if the driver had canceled) it is stopped remotely.
  The station was answered Blocked for it (the virtual tag is Accepted only for a live app
  session: wallet.selectors.authorization), so it may also stop on its own.
- Meter values: ``app_sessions_meter`` links a virtual-tag session whose link task was lost,
  pushes live figures and runs the balance check
  (``app_session_balance_check``): the hold is extended while the wallet has money; when the
  running cost reaches the hold less WALLET_HOLD_MARGIN and nothing is left to hold, the
  session is stopped remotely (cause ``balance``), once.
- The station's StopTransaction: ``app_session_station_stopped`` (cause ``station`` unless a
  stop was asked); billing's order then settles it (wallet.services.settlement), which sets it
  ``finished`` and pushes the final figures.

Lock order, as settlement's: the AppSession row, then the wallet.

One module past ~400 lines on purpose: it is one state machine, read top to bottom (start,
link, stop, live figures and the balance, push), whose transitions share its helpers, its
refusals (``SessionRefused``) and its lock order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from csms.models import Command, IdTag, Transaction
from ocpp_gateway import calls
from wallet.models import AppSession, JournalEntry, Wallet
from wallet.money import quantize
from wallet.selectors.sessions import app_session_snapshot
from wallet.selectors.stations import (
    Availability,
    ConnectorActivity,
    connector_availability,
    connector_by_code,
)
from wallet.services.ledger import (
    ZERO,
    InsufficientFunds,
    ledger_hold,
    ledger_release,
    wallet_accounts,
    wallet_lock,
)

logger = logging.getLogger(__name__)

State = AppSession.State
StopCause = AppSession.StopCause

# A StartTransaction this long after a failed start is no longer taken for it.
LATE_START_WINDOW = AppSession.LATE_START_WINDOW


@dataclass
class SessionRefused(Exception):
    """A start or stop the platform refuses: ``code`` for the app, ``message`` for the
    driver, ``status_code`` for the API."""

    code: str
    message: str
    status_code: int = 409

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_REFUSALS = {
    Availability.OFFLINE: ("connector_offline", "The station is offline; try another one."),
    Availability.FAULTED: ("connector_faulted", "This connector is out of order."),
    Availability.UNAVAILABLE: ("connector_unavailable", "This connector is out of service."),
    Availability.OCCUPIED: ("connector_occupied", "Someone is already charging here."),
    Availability.RESERVED: ("connector_reserved", "This connector is reserved for someone else."),
}


def group_name(session_id: int) -> str:
    """The channel-layer group of a session's WebSockets."""
    return f"app-session-{session_id}"


# --- Starting -------------------------------------------------------------------------------


def app_session_start(
    *, wallet: Wallet, connector_code: str, idempotency_key: str = ""
) -> tuple[AppSession, bool]:
    """Start charging at the connector with this code: ``(session, created)``. Raises
    SessionRefused (``unknown_connector`` 404; ``connector_offline``, ``connector_faulted``,
    ``connector_unavailable``, ``connector_occupied``, ``connector_reserved``,
    ``session_active``, ``tag_blocked`` 409; ``insufficient_balance`` 402; the gateway
    unreachable 503). Commits on its own; RemoteStartTransaction goes out after the commit.
    A retry with the same ``idempotency_key`` returns the first session (``created`` False)."""
    if idempotency_key:
        existing = AppSession.objects.filter(wallet=wallet, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    connector = connector_by_code(connector_code)
    if connector is None:
        raise SessionRefused(
            "unknown_connector", f"No connector has the code {connector_code!r}.", 404
        )
    charge_point = connector.charge_point
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=wallet.pk)
        if idempotency_key:  # a concurrent retry got the lock first
            existing = AppSession.objects.filter(
                wallet=wallet, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                return existing, False
        tag = IdTag.objects.get(pk=wallet.virtual_id_tag_id)
        if tag.status != IdTag.Status.ACCEPTED:
            raise SessionRefused(
                "tag_blocked", "Charging from the app is blocked for this account."
            )
        # One at a time: the virtual tag allows one session (max_concurrent_sessions), so a
        # second start would be answered ConcurrentTx by the station anyway.
        if AppSession.objects.filter(wallet=wallet, state__in=AppSession.ACTIVE_STATES).exists():
            raise SessionRefused(
                "session_active", "You are already charging: stop that session first."
            )
        availability = connector_availability(
            charge_point=charge_point,
            connector=connector,
            activity=ConnectorActivity.for_stations([charge_point.pk]),
            id_tag=tag.id_tag,
        )
        if availability != Availability.AVAILABLE:
            raise SessionRefused(*_REFUSALS[availability])
        accounts = wallet_accounts(wallet=wallet)
        available = accounts["wallet"].balance
        minimum = settings.WALLET_SESSION_MIN_BALANCE
        if available < minimum or available <= ZERO:
            raise SessionRefused(
                "insufficient_balance",
                f"You need at least {quantize(minimum, wallet.currency)} {wallet.currency} "
                f"to start; you have {quantize(available, wallet.currency)}. Top up first.",
                402,
            )
        session = AppSession(
            wallet=wallet,
            charge_point=charge_point,
            connector_id=connector.connector_id,
            connector_code=connector.code,
            idempotency_key=idempotency_key,
            start_deadline=timezone.now() + timedelta(seconds=settings.WALLET_START_TIMEOUT),
        )
        try:
            with transaction.atomic():
                session.save()
        except IntegrityError:
            # The one-start-per-connector constraint: another driver's start won the race.
            raise SessionRefused(*_REFUSALS[Availability.OCCUPIED]) from None
        hold = quantize(min(settings.WALLET_SESSION_HOLD, available), wallet.currency)
        ledger_hold(
            wallet=wallet,
            accounts=accounts,
            amount=hold,
            idempotency_key=f"session:{session.pk}:hold:0",
            memo=f"Held for charging at {charge_point.identity}",
            session=session,
        )
        session.held = hold
        try:
            session.start_command = calls.command_send(
                charge_point=charge_point,
                action="RemoteStartTransaction",
                payload={"connectorId": connector.connector_id, "idTag": tag.id_tag},
                issued_by=None,
                source="app",
                wait=False,
            )
        except calls.StationOffline:
            raise SessionRefused(*_REFUSALS[Availability.OFFLINE]) from None
        except calls.CommandError as exc:
            logger.warning("app start at %s refused by the gateway: %s", charge_point, exc)
            raise SessionRefused(exc.code, exc.message, exc.status_code) from None
        session.save(update_fields=["held", "start_command", "updated_at"])
    logger.info("app session %s starting at %s/%s", session.pk, charge_point, connector.code)
    return session, True


def _release(session: AppSession, *, key: str, memo: str) -> None:
    """Give the session's hold back (call holding the session's row lock)."""
    if session.held <= ZERO:
        return
    wallet = wallet_lock(wallet_id=session.wallet_id)
    accounts = wallet_accounts(wallet=wallet)
    ledger_release(
        wallet=wallet,
        accounts=accounts,
        amount=min(session.held, accounts["held"].balance),
        idempotency_key=f"session:{session.pk}:{key}",
        memo=memo,
        session=session,
    )
    session.held = ZERO


def _fail(session: AppSession, reason: str) -> None:
    session.state = State.FAILED
    session.failure_reason = reason[:255]
    session.finished_at = timezone.now()
    _release(session, key="release-failed", memo="Hold released: the session did not start")
    session.save(update_fields=["state", "failure_reason", "finished_at", "held", "updated_at"])
    _push_on_commit(session.pk)


def app_session_start_failed(*, command_id: Any, reason: str) -> AppSession | None:
    """The station refused the RemoteStartTransaction (or never got it): the session, if
    still starting, fails and its hold is released. Commits on its own; idempotent."""
    with transaction.atomic():
        session = (
            AppSession.objects.select_for_update()
            .filter(start_command_id=command_id, state=State.STARTING)
            .first()
        )
        if session is None:
            return None
        _fail(session, reason)
    logger.info("app session %s failed: %s", session.pk, reason)
    return session


def app_sessions_expire(*, now: datetime | None = None) -> int:
    """Fail the starts whose station sent no StartTransaction by their deadline (beat, every
    30 s) and release their holds. Returns how many failed."""
    now = now or timezone.now()
    due = AppSession.objects.filter(state=State.STARTING, start_deadline__lt=now).values_list(
        "pk", flat=True
    )
    failed = 0
    for pk in list(due):
        with transaction.atomic():
            session = (
                AppSession.objects.select_for_update()
                .filter(pk=pk, state=State.STARTING, start_deadline__lt=now)
                .first()
            )
            if session is None:
                continue
            _fail(
                session,
                f"The station did not start charging within {settings.WALLET_START_TIMEOUT} s.",
            )
            failed += 1
    return failed


# --- Linking the station's session ----------------------------------------------------------


def app_session_link(*, transaction_id: int) -> AppSession | None:
    """A StartTransaction was stored: if its tag is a wallet's virtual tag, link it to that
    driver's app session on the same connector (``starting`` -> ``charging``), or to the
    start that failed shortly before (see the module docstring). Idempotent; commits on its
    own. None when the session is not an app session, or another run linked it first."""
    try:
        return _app_session_link(transaction_id=transaction_id)
    except IntegrityError:
        # The link task and a meter batch's recovery ran at once: the other one linked it
        # (the transaction is unique on app sessions).
        logger.info("transaction %s was linked by a concurrent run", transaction_id)
        return None


def _app_session_link(*, transaction_id: int) -> AppSession | None:
    with transaction.atomic():
        tx = Transaction.objects.filter(pk=transaction_id).first()
        if tx is None or AppSession.objects.filter(transaction_id=transaction_id).exists():
            return None
        wallet_id = (
            Wallet.objects.filter(virtual_id_tag__key=tx.id_tag.upper())
            .values_list("pk", flat=True)
            .first()
        )
        if wallet_id is None:
            return None
        mine = AppSession.objects.select_for_update().filter(
            wallet_id=wallet_id, charge_point_id=tx.charge_point_id, connector_id=tx.connector_id
        )
        session = mine.filter(state=State.STARTING, transaction__isnull=True).first()
        if session is not None:
            session.transaction = tx
            session.state = State.CHARGING
            session.charging_at = timezone.now()
            session.save(update_fields=["transaction", "state", "charging_at", "updated_at"])
            _push_on_commit(session.pk)
            logger.info("app session %s charging (transaction %s)", session.pk, tx.pk)
            return session
        late = (
            mine.filter(
                state=State.FAILED,
                transaction__isnull=True,
                created_at__gte=timezone.now() - LATE_START_WINDOW,
            )
            .order_by("-created_at")
            .first()
        )
        if late is None:
            return None
        _link_late(late, tx)
        return late


def _link_late(session: AppSession, tx: Transaction) -> None:
    """A StartTransaction after the start failed: the session is still the driver's."""
    session.transaction = tx
    session.charging_at = timezone.now()
    session.finished_at = None
    wallet = wallet_lock(wallet_id=session.wallet_id)
    accounts = wallet_accounts(wallet=wallet)
    available = accounts["wallet"].balance
    canceled = session.stop_cause == StopCause.DRIVER
    if not canceled and available >= settings.WALLET_SESSION_MIN_BALANCE and available > ZERO:
        hold = quantize(min(settings.WALLET_SESSION_HOLD, available), wallet.currency)
        ledger_hold(
            wallet=wallet,
            accounts=accounts,
            amount=hold,
            idempotency_key=f"session:{session.pk}:hold:late",
            memo=f"Held for charging at {session.charge_point.identity} (late start)",
            session=session,
        )
        session.held = hold
        session.state = State.CHARGING
        session.failure_reason = ""
        session.save()
        logger.info("app session %s charging after a late start (tx %s)", session.pk, tx.pk)
    else:
        session.state = State.CHARGING  # what _request_stop moves on from
        _request_stop(session, cause=StopCause.DRIVER if canceled else StopCause.BALANCE)
        session.save()
        logger.info("app session %s: late start (tx %s) stopped", session.pk, tx.pk)
    _push_on_commit(session.pk)


# --- Stopping -------------------------------------------------------------------------------


def _request_stop(session: AppSession, *, cause: str) -> bool:
    """Send RemoteStopTransaction (after the commit) for a charging session and mark it
    ``stopping``; the caller saves it. False when the station cannot be reached (the session
    stays ``charging``, the caller decides)."""
    try:
        command = calls.command_send(
            charge_point=session.charge_point,
            action="RemoteStopTransaction",
            payload={"transactionId": session.transaction_id},
            issued_by=None,
            source="app",
            wait=False,
        )
    except calls.CommandError as exc:
        logger.warning("could not stop app session %s (%s): %s", session.pk, cause, exc)
        return False
    session.state = State.STOPPING
    session.stop_cause = cause
    session.stop_requested_at = timezone.now()
    session.stop_command = command
    return True


def app_session_stop(*, wallet: Wallet, session_id: int) -> AppSession | None:
    """The driver's stop. A charging session gets RemoteStopTransaction and is ``stopping``;
    a ``starting`` one is canceled (``failed``, cause driver, hold released; should the
    station start anyway, that session is stopped at once); a ``stopping`` one is returned as
    it is (a retry). None: no such session of this driver. Raises SessionRefused
    (``session_over``; ``connector_offline`` when the station cannot be reached)."""
    with transaction.atomic():
        session = (
            AppSession.objects.select_for_update(of=("self",))
            .select_related("charge_point")
            .filter(wallet=wallet, pk=session_id)
            .first()
        )
        if session is None:
            return None
        if session.state == State.STARTING:
            session.stop_cause = StopCause.DRIVER
            session.stop_requested_at = timezone.now()
            session.save(update_fields=["stop_cause", "stop_requested_at", "updated_at"])
            _fail(session, "Canceled by the driver before the station started charging.")
        elif session.state == State.CHARGING:
            if not _request_stop(session, cause=StopCause.DRIVER):
                raise SessionRefused(
                    "connector_offline", "The station cannot be reached right now; try again."
                )
            session.save()
            _push_on_commit(session.pk)
        elif session.state != State.STOPPING:
            raise SessionRefused("session_over", f"This session is already {session.state}.")
    return session


def app_session_stop_failed(*, command_id: Any) -> AppSession | None:
    """The station refused (or never got) the RemoteStopTransaction: the session charges on
    (``charging``, no stop cause), so the driver can stop again and the balance check
    retries. Commits on its own."""
    with transaction.atomic():
        session = (
            AppSession.objects.select_for_update()
            .filter(stop_command_id=command_id, state=State.STOPPING)
            .first()
        )
        if session is None:
            return None
        session.state = State.CHARGING
        session.stop_cause = StopCause.NONE
        session.stop_requested_at = None
        session.save(update_fields=["state", "stop_cause", "stop_requested_at", "updated_at"])
        _push_on_commit(session.pk)
    logger.warning("app session %s: the station did not stop it", session.pk)
    return session


def app_session_station_stopped(*, transaction_id: int) -> None:
    """The station's session ended (StopTransaction or closed as stale): an app session
    nobody asked to stop was stopped at the station (cause ``station``). It is ``stopping``
    until its order is settled (settlement sets it ``finished``, whichever runs first)."""
    with transaction.atomic():
        mine = AppSession.objects.filter(transaction_id=transaction_id)
        mine.filter(stop_cause=StopCause.NONE).exclude(state=State.FAILED).update(
            stop_cause=StopCause.STATION, updated_at=timezone.now()
        )
        mine.filter(state=State.CHARGING).update(state=State.STOPPING, updated_at=timezone.now())
        pk = mine.values_list("pk", flat=True).first()
        if pk is not None:
            _push_on_commit(pk)


# --- Live figures and the balance -----------------------------------------------------------


def _running_cost(snapshot: dict[str, Any]) -> Decimal | None:
    cost = snapshot.get("cost")
    if not cost:
        return None
    value = cost["incl_vat"] if cost["incl_vat"] is not None else cost["excl_vat"]
    return None if value is None else Decimal(value)


def app_sessions_meter(*, transaction_ids: list[int]) -> int:
    """Meter values arrived for these running sessions (one call per stored batch): the app
    sessions among them (one query) get the balance check and a push with the new figures.
    Returns how many app sessions there were.

    A running session started with a wallet's virtual tag that no app session holds yet
    (its ``app_session_link`` task was lost: the broker down, a dropped publish) is linked
    first (one query finds them), so its driver is not charging without the balance check:
    the link takes the start still ``starting``, or the one that expired meanwhile as a late
    start (a new hold, or a remote stop without the money)."""
    for transaction_id in _unlinked_app_transactions(transaction_ids):
        logger.warning("transaction %s had not been linked to its app session", transaction_id)
        try:
            app_session_link(transaction_id=transaction_id)
        except Exception:  # one session's trouble must not cost the others their check
            logger.exception("linking transaction %s to its app session failed", transaction_id)
    sessions = list(
        AppSession.objects.filter(
            transaction_id__in=transaction_ids, state__in=(State.CHARGING, State.STOPPING)
        ).select_related("transaction", "wallet", "charge_point")
    )
    for session in sessions:
        snapshot = app_session_snapshot(session)
        if session.state == State.CHARGING:
            cost = _running_cost(snapshot)
            if cost is not None and app_session_balance_check(session_id=session.pk, cost=cost):
                continue  # changed: it pushed its new state on commit
        _push(session.pk, snapshot)
    return len(sessions)


def _unlinked_app_transactions(transaction_ids: list[int]) -> list[int]:
    """The running transactions among ``transaction_ids`` started with a wallet's virtual tag
    and linked to no app session (one query)."""
    return list(
        Transaction.objects.filter(pk__in=transaction_ids, stopped_at__isnull=True)
        # Accepted starts only: a copied virtual tag the station was told Blocked is no app
        # session, and would otherwise be looked for again on every meter batch.
        .filter(start_status=IdTag.Status.ACCEPTED)
        .filter(Exists(Wallet.objects.filter(virtual_id_tag_id=OuterRef("id_tag_ref_id"))))
        .filter(~Exists(AppSession.objects.filter(transaction_id=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )


def app_session_balance_check(*, session_id: int, cost: Decimal) -> bool:
    """Auto-stop: when ``cost`` (the running cost, incl. VAT where known) reaches the hold
    less WALLET_HOLD_MARGIN, hold WALLET_HOLD_EXTENSION more (as far as the wallet has it,
    as often as needed); when even then the cost is within the margin of the hold, stop the
    session remotely (cause ``balance``). Only a ``charging`` session is stopped, so
    repeated meter values send one stop. True when it changed the session. Commits on its
    own."""
    margin = settings.WALLET_HOLD_MARGIN
    with transaction.atomic():
        session = (
            AppSession.objects.select_for_update(of=("self",))
            .select_related("charge_point")
            .filter(pk=session_id, state=State.CHARGING)
            .first()
        )
        if session is None or cost < session.held - margin:
            return False
        wallet = wallet_lock(wallet_id=session.wallet_id)
        accounts = wallet_accounts(wallet=wallet)
        holds = JournalEntry.objects.filter(session=session, kind=JournalEntry.Kind.HOLD).count()
        while cost >= session.held - margin and accounts["wallet"].balance > ZERO:
            amount = quantize(
                min(settings.WALLET_HOLD_EXTENSION, accounts["wallet"].balance), wallet.currency
            )
            if amount <= ZERO:
                break
            try:
                ledger_hold(
                    wallet=wallet,
                    accounts=accounts,
                    amount=amount,
                    idempotency_key=f"session:{session.pk}:hold:{holds}",
                    memo="Hold extended: the session costs more",
                    session=session,
                )
            except InsufficientFunds:
                break
            holds += 1
            session.held += amount
        if cost >= session.held - margin:
            _request_stop(session, cause=StopCause.BALANCE)
        session.save()
        _push_on_commit(session.pk)
    if session.state == State.STOPPING:
        logger.info("app session %s stopped: balance used up (cost %s)", session.pk, cost)
    return True


# --- Pushing to the driver's WebSockets -----------------------------------------------------


def _push(session_id: int, snapshot: dict[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(
            group_name(session_id), {"type": "session.push", "message": snapshot}
        )
    except Exception:  # the layer down: the app still polls GET sessions/<id>/
        logger.warning("could not push app session %s", session_id, exc_info=True)


def app_session_push(*, session_id: int) -> None:
    """Send the session's current snapshot to its WebSockets (group ``app-session-<id>``).
    Call after commit (``app_session_push_on_commit`` inside a transaction)."""
    session = (
        AppSession.objects.select_related("transaction", "wallet", "charge_point")
        .filter(pk=session_id)
        .first()
    )
    if session is not None:
        _push(session_id, app_session_snapshot(session))


def _push_on_commit(session_id: int) -> None:
    def push() -> None:
        app_session_push(session_id=session_id)

    transaction.on_commit(push, robust=True)


def app_session_push_on_commit(*, session_id: int) -> None:
    """Push the session's snapshot once the current transaction commits (settlement calls
    this when it finishes a session)."""
    _push_on_commit(session_id)


def command_is_app(command: Command, action: str) -> bool:
    """Whether ``command`` is an app session's ``action`` (no query)."""
    return command.source == "app" and command.action == action
