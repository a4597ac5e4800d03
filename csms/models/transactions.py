"""Transactions: charging sessions and their meter samples."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from csms.models.authorization import IdTag
from csms.models.stations import ChargePoint


class StaleStopReason(models.TextChoices):
    """stop_reason of a session the CSMS closed because the station never stopped it (the
    rules are csms.services.transactions' and the README's "Session and clock rules"). Not
    OCPP Reason values, so they can never be mistaken for what a station reported."""

    NEW_SESSION = "StaleNewSession", "A new session started on the connector"
    REBOOT = "StaleReboot", "The station booted again"
    AVAILABLE = "StaleAvailable", "The connector was reported Available"


class Transaction(models.Model):
    """A charging session. ``id`` is the OCPP transactionId (an int32 in the protocol)."""

    id = models.AutoField(primary_key=True)
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.PROTECT, related_name="transactions"
    )
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20, help_text="As the station sent it.")
    id_tag_ref = models.ForeignKey(
        IdTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    meter_start = models.BigIntegerField(help_text="Wh")
    started_at = models.DateTimeField()
    reservation_id = models.IntegerField(null=True, blank=True)
    start_status = models.CharField(
        max_length=16, default=IdTag.Status.ACCEPTED, help_text="idTagInfo status we answered."
    )

    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True)
    stop_id_tag = models.CharField(max_length=20, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    energy_wh = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Wh delivered, as settled at the stop: meterStop - meterStart, or from the "
        "energy register samples when meterStop is implausible (meter_stop_implausible).",
    )
    meter_stop_implausible = models.BooleanField(
        default=False,
        help_text="meterStop was below meterStart or disagreed with the last "
        "Energy.Active.Import.Register sample by more than 1%: energy_wh comes from the "
        "samples.",
    )
    energy_note = models.CharField(
        max_length=255,
        blank=True,
        help_text="How energy_wh was settled when not simply meterStop - meterStart.",
    )
    late_stop = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "The station's own StopTransaction (meterStop, timestamp, reason, idTag) when it "
            "arrived after the session was closed as stale; kept for review, the session is "
            "not changed."
        ),
    )

    # Live view of a running session, kept current by MeterValues in order of arrival
    # (last_meter_at is the station's timestamp of that reading).
    last_meter_wh = models.BigIntegerField(null=True, blank=True)
    last_power_w = models.DecimalField(max_digits=12, decimal_places=1, null=True, blank=True)
    last_soc = models.PositiveSmallIntegerField(null=True, blank=True)
    last_meter_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # A retried StartTransaction (same content) must map to the same transaction.
            models.UniqueConstraint(
                fields=["charge_point", "connector_id", "id_tag", "meter_start", "started_at"],
                name="uniq_transaction_start",
            )
        ]
        indexes = [
            models.Index(fields=["charge_point", "-started_at"], name="tx_cp_started"),
            models.Index(fields=["id_tag", "-started_at"], name="tx_tag_started"),
            models.Index(
                fields=["charge_point", "connector_id"],
                condition=Q(stopped_at__isnull=True),
                name="tx_active",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.stopped_at is None


class UnmatchedStopTransaction(models.Model):
    """A StopTransaction for a transaction id we do not know; answered, and kept for review."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="unmatched_stops"
    )
    transaction_id = models.BigIntegerField()
    id_tag = models.CharField(max_length=20, blank=True)
    meter_stop = models.BigIntegerField()
    timestamp = models.DateTimeField()
    reason = models.CharField(max_length=32, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]


class MeterValue(models.Model):
    """One sampledValue of a MeterValues (or StopTransaction transactionData) message."""

    id = models.BigAutoField(primary_key=True)
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="+")
    connector_id = models.PositiveIntegerField()
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_values"
    )
    timestamp = models.DateTimeField()
    value = models.CharField(max_length=2500, help_text="As sent (SignedData can be long).")
    value_decimal = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    measurand = models.CharField(max_length=48, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    context = models.CharField(max_length=24, blank=True)
    location = models.CharField(max_length=8, blank=True)
    format = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            # A retried MeterValues must not double the samples; this key also serves
            # station/connector time-range reads.
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "connector_id",
                    "timestamp",
                    "measurand",
                    "phase",
                    "location",
                    "context",
                ],
                name="uniq_meter_sample",
            )
        ]
        indexes = [models.Index(fields=["transaction", "timestamp"], name="mv_tx_time")]

    @property
    def value_wh(self) -> Decimal | None:
        """An active-energy reading (Energy.Active.*, register or interval) in Wh, from Wh or
        kWh; None for any other measurand, a unit that is not an energy unit, or a value that
        is not a number. No unit is Wh, the OCPP 1.6 default."""
        if not self.measurand.startswith(_ACTIVE_ENERGY):
            return None
        return _scaled(self.value_decimal, _ENERGY_UNITS.get(self.unit))

    @property
    def value_w(self) -> Decimal | None:
        """An active-power reading (Power.Active.*, Power.Offered) in W, from W or kW; None
        otherwise (as ``value_wh``). No unit is read as W: the spec's default, Wh, is not a
        power unit, and stations that leave the unit out of a power reading mean W."""
        if not self.measurand.startswith(_ACTIVE_POWER):
            return None
        return _scaled(self.value_decimal, _POWER_UNITS.get(self.unit))


# Reactive measurands (varh, var) and Power.Factor have no Wh or W value: they are left out.
_ACTIVE_ENERGY = ("Energy.Active.",)
_ACTIVE_POWER = ("Power.Active.", "Power.Offered")
_ENERGY_UNITS = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}
_POWER_UNITS = {"": Decimal(1), "W": Decimal(1), "kW": Decimal(1000)}


def _scaled(value: Decimal | None, factor: Decimal | None) -> Decimal | None:
    if value is None or factor is None:
        return None
    return value * factor
