"""The wallet's say in authorization (registered in ``WalletConfig.ready`` with
``csms.services.authorization.authorization_check_register``): a driver's tags charge only
what the wallet can pay for.

- **A card** (an RFID tag the driver linked): Blocked while the wallet owes anything
  (receivable > 0) or its available balance is below ``WALLET_RFID_MIN_BALANCE``. Card
  sessions hold nothing (the station starts them before we are asked about money), so this
  is what keeps their debt from growing session after session. Never refused while the
  card's own session runs at the asking station: presenting it again ends that session.
- **The virtual tag** (the idTag of app sessions): Accepted only while the wallet has an app
  session at the asking station that is ``starting`` (the station's Authorize or
  StartTransaction after our RemoteStartTransaction) or ``charging``/``stopping`` with its
  transaction still running (a StopTransaction's idTag), or whose start timed out within
  ``AppSession.LATE_START_WINDOW`` and was not canceled by the driver (a driver who plugged
  in late: wallet.services.sessions links that start with a new hold, or stops it remotely
  when the wallet lacks the minimum). Otherwise Blocked: the virtual tag copied onto a card
  cannot charge on its own, without a hold and without auto-stop.

Tags of users without a wallet (operators' cards) are left as the registry says.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Subquery

from csms.models import IdTag, Transaction
from wallet.models import AppSession, LedgerAccount, Wallet

BLOCKED = IdTag.Status.BLOCKED.value


def id_tag_wallet_check(
    *, tag: IdTag, now: datetime, charge_point_id: int | None = None
) -> str | None:
    """Blocked when the driver's wallet refuses ``tag`` (see the module docstring), None to
    leave the registry's Accepted. One query: the wallet of the tag's user with its available
    and owed balances and whether an app session may use the virtual tag. Reads cached
    balances without the wallet lock (it runs on the gateway's hot path): a top-up committing
    at the same instant may be missed, never money that is not there."""
    if tag.user_id is None:  # csms asks only about tags with a user
        return None
    accounts = LedgerAccount.objects.filter(wallet=OuterRef("pk"))
    app_sessions = AppSession.objects.filter(wallet=OuterRef("pk")).filter(
        Q(state=AppSession.State.STARTING)
        | Q(
            state__in=(AppSession.State.CHARGING, AppSession.State.STOPPING),
            transaction__stopped_at__isnull=True,
        )
        # A late start (wallet.services.sessions links it with a new hold when the wallet
        # has the minimum): a start that timed out recently, not canceled by the driver.
        | Q(
            state=AppSession.State.FAILED,
            transaction__isnull=True,
            created_at__gte=now - AppSession.LATE_START_WINDOW,
        )
        & ~Q(stop_cause=AppSession.StopCause.DRIVER)
    )
    # The card's own session running at this station: its Authorize (or StopTransaction) is
    # the driver ending it, which money must never refuse (the cable stays locked otherwise).
    running_here = Transaction.objects.filter(id_tag_ref_id=tag.pk, stopped_at__isnull=True)
    if charge_point_id is not None:
        app_sessions = app_sessions.filter(charge_point_id=charge_point_id)
        running_here = running_here.filter(charge_point_id=charge_point_id)
    row = (
        Wallet.objects.filter(user_id=tag.user_id)
        .annotate(
            available=Subquery(
                accounts.filter(kind=LedgerAccount.Kind.WALLET).values("balance")[:1]
            ),
            owed=Subquery(
                accounts.filter(kind=LedgerAccount.Kind.RECEIVABLE).values("balance")[:1]
            ),
            app_session=Exists(app_sessions),
            running_here=Exists(running_here),
        )
        .values_list("virtual_id_tag_id", "available", "owed", "app_session", "running_here")
        .first()
    )
    if row is None:  # not a driver's tag
        return None
    virtual_id_tag_id, available, owed, app_session, running_here = row
    if tag.pk == virtual_id_tag_id:
        # (A late start with less than the session minimum is stopped remotely once linked.)
        return None if app_session else BLOCKED
    if running_here:
        return None
    if (owed or 0) > 0 or (available or 0) < settings.WALLET_RFID_MIN_BALANCE:
        return BLOCKED
    return None
