"""Which tariff applies where: an assignment to a site, a station, or one connector of a
station, optionally for a window of time. Precedence (``billing.selectors.tariff_applicable``):
connector > station > site > the default tariff (``Tariff.is_default``)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from billing.models.sites import Site
from billing.models.tariffs import Tariff


class TariffAssignment(models.Model):
    """Exactly one scope: ``site``; or ``charge_point`` (the station); or ``charge_point``
    with ``connector_id`` (one connector, 1 or more: connector 0 is the station itself).

    Within a scope, assignments may overlap in time: the one whose window began last wins
    (an open start counts as the earliest), then the newest. So a weekend promotion beats the
    permanent tariff during its window, whichever was created first."""

    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="assignments")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="tariff_assignments"
    )
    charge_point = models.ForeignKey(
        "csms.ChargePoint",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tariff_assignments",
    )
    connector_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="With a station: only this connector (1 or more)."
    )
    valid_from = models.DateTimeField(null=True, blank=True, help_text="Empty: since always.")
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty: open.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    site__isnull=False, charge_point__isnull=True, connector_id__isnull=True
                )
                | Q(site__isnull=True, charge_point__isnull=False),
                name="billing_assignment_one_scope",
                violation_error_message=(
                    "Assign to exactly one of: a site, a station, or a station's connector."
                ),
            ),
            models.CheckConstraint(
                condition=Q(connector_id__isnull=True) | Q(connector_id__gte=1),
                name="billing_assignment_connector_positive",
                violation_error_message=(
                    "Connector ids start at 1 (connector 0 is the station: leave it empty)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gt=F("valid_from")),
                name="billing_assignment_window",
                violation_error_message="valid_until must be later than valid_from.",
            ),
        ]
        indexes = [models.Index(fields=["charge_point", "connector_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.tariff} → {self.scope_label}"

    @property
    def scope(self) -> str:
        """'site', 'charge_point' or 'connector'."""
        if self.site_id is not None:
            return "site"
        return "connector" if self.connector_id is not None else "charge_point"

    @property
    def scope_label(self) -> str:
        if self.site is not None:
            return f"site {self.site.name!r}"
        if self.connector_id is not None:
            return f"connector {self.connector_id} of {self.charge_point}"
        return f"station {self.charge_point}"
