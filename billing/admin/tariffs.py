"""Admin of tariffs. A tariff's page holds its identity (name, default flag, OCPI ids) and
its assignments; its prices are versions, never edited in place:

- "Edit prices (new version)" opens the new-version page filled from the newest version:
  the version's fields and one row per element (prices per dimension, restrictions). Saving
  publishes it as the next version (``billing.services.tariff_version_create``); the
  earlier versions, and the sessions priced by them, keep theirs.
- A version's own page is read-only.
- "Import OCPI JSON" (a new tariff, or a new version of this one) takes a pasted OCPI 2.2.1
  Tariff object; "Export OCPI JSON" downloads a version as one.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from billing.admin.forms import (
    OcpiImportForm,
)
from billing.admin.preview import TariffPreviewForm, preview_price
from billing.models import (
    RESTRICTION_FIELDS,
    Tariff,
    TariffAssignment,
    TariffElement,
    TariffVersion,
)
from billing.pricing.ocpi import tariff_to_ocpi
from billing.services import (
    TariffInUse,
    tariff_assignment_create,
    tariff_assignment_update,
    tariff_create,
    tariff_delete,
    tariff_update,
    tariff_version_create,
)
from csms.admin.common import change_url


def _new_version_url(tariff: Tariff) -> str:
    return reverse("admin:billing_tariffversion_add") + f"?tariff={tariff.pk}"


def _restrictions_text(element: TariffElement) -> str:
    restrictions = element.restrictions()
    if restrictions is None:
        return "always"
    parts = []
    for name in RESTRICTION_FIELDS:
        value = getattr(restrictions, name)
        if value is not None:
            parts.append(f"{name} {value}")
    if restrictions.day_of_week:
        parts.append("on " + ", ".join(d.value.title()[:3] for d in restrictions.day_of_week))
    if restrictions.reservation:
        parts.append(f"reservation {restrictions.reservation.value}")
    return "; ".join(parts)


def _components_text(element: TariffElement) -> str:
    return "; ".join(
        f"{c.type} {c.as_pricing().price}"
        + (f" + {c.as_pricing().vat}% VAT" if c.vat is not None else "")
        + (f" (step {c.step_size})" if c.step_size != 1 else "")
        for c in element.components.all()
    )


def elements_table(version: TariffVersion | None) -> SafeString | str:
    if version is None:
        return "No version yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (element.position + 1, _components_text(element), _restrictions_text(element))
            for element in version.elements.all()
        ),
    )
    return format_html(
        "<table><thead><tr><th>#</th><th>prices (excl. VAT)</th><th>when</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )


# --- Assignments ----------------------------------------------------------------------------


class AssignmentAdminMixin:
    """Assignments are written through the services (their rules in one place)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data.get(name) for name in form.fields}
        if change:
            tariff_assignment_update(assignment=obj, **fields)
        else:
            obj.pk = tariff_assignment_create(**fields).pk


class TariffAssignmentInline(admin.TabularInline):
    model = TariffAssignment
    fk_name = "tariff"
    fields = ["site", "charge_point", "connector_id", "valid_from", "valid_until"]
    raw_id_fields = ["charge_point"]
    extra = 0
    verbose_name_plural = (
        "assignments (connector > station > site > the default tariff; empty dates: open)"
    )


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    list_display = ["id", "tariff", "scope_label", "valid_from", "valid_until", "created_at"]
    list_filter = ["tariff", "site"]
    search_fields = ["=charge_point__identity", "tariff__name", "site__name"]
    list_select_related = ["tariff", "site", "charge_point"]
    raw_id_fields = ["charge_point"]
    fields = ["tariff", "site", "charge_point", "connector_id", "valid_from", "valid_until"]

    @admin.display(description="applies to")
    def scope_label(self, obj: TariffAssignment) -> str:
        return obj.scope_label


# --- Tariffs --------------------------------------------------------------------------------


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "currency",
        "is_default",
        "current_version_number",
        "assignment_count",
        "updated_at",
    ]
    list_filter = ["currency", "is_default"]
    search_fields = ["name", "ocpi_id"]
    inlines = [TariffAssignmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tariff]:
        return (
            super()
            .get_queryset(request)
            .annotate(assignment_count=Count("assignments", distinct=True))
            .prefetch_related("versions")
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        identity = ["name", "currency", "is_default", "country_code", "party_id", "ocpi_id"]
        if obj is None:
            return identity
        return [*identity, "prices", "versions_list", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        # Currency: every version is in the tariff's; another currency is another tariff.
        return ["currency", "prices", "versions_list", "created_at", "updated_at"]

    @admin.display(description="version")
    def current_version_number(self, obj: Tariff) -> Any:
        version = obj.current_version
        return version.number if version else "-"

    @admin.display(description="assignments", ordering="assignment_count")
    def assignment_count(self, obj: Tariff) -> int:
        return getattr(obj, "assignment_count", 0)

    @admin.display(description="prices (newest version)")
    def prices(self, obj: Tariff) -> SafeString | str:
        version = obj.current_version
        table = elements_table(version)
        links = [("Edit prices (new version)", _new_version_url(obj))]
        links += [("Import OCPI JSON as a new version", self._url("import_version", obj))]
        if version is not None:
            links += [("Export OCPI JSON", self._url("export", obj))]
            links += [("Preview prices", self._url("preview", obj))]
        return format_html(
            "{}<p>{}</p>",
            table,
            format_html_join(" · ", '<a href="{}">{}</a>', ((u, t) for t, u in links)),
        )

    @admin.display(description="versions")
    def versions_list(self, obj: Tariff) -> SafeString | str:
        versions = sorted(obj.versions.all(), key=lambda v: -v.number)
        if not versions:
            return "None: the tariff applies nowhere until it has one."
        return format_html_join(
            ", ",
            '<a href="{}">v{}</a> ({})',
            ((change_url(v), v.number, f"{v.created_at:%Y-%m-%d %H:%M}") for v in versions),
        )

    def _url(self, view: str, obj: Tariff) -> str:
        return reverse(f"admin:billing_tariff_{view}", args=[obj.pk])

    def save_model(self, request: HttpRequest, obj: Tariff, form: Any, change: bool) -> None:
        fields = {
            name: form.cleaned_data[name]
            for name in ("name", "is_default", "country_code", "party_id", "ocpi_id")
            if name in form.cleaned_data
        }
        if change:
            tariff_update(tariff=obj, **fields)
        else:
            created = tariff_create(currency=form.cleaned_data["currency"], **fields)
            obj.pk = created.pk

    def response_add(self, request: HttpRequest, obj: Tariff, post_url_continue: Any = None) -> Any:
        # A tariff without a version prices nothing: straight on to its first version.
        if "_addanother" in request.POST or "_continue" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Tariff {obj} created; now give it its prices.")
        return HttpResponseRedirect(_new_version_url(obj))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change, **kwargs)

        class TariffForm(form):  # type: ignore[valid-type,misc]
            def _get_validation_exclusions(self) -> set[str]:
                # Ticking "default" replaces the current default (the service does it), so
                # the one-default constraint is not a form error.
                return {*super()._get_validation_exclusions(), "is_default"}

        return TariffForm

    def delete_model(self, request: HttpRequest, obj: Tariff) -> None:
        try:
            tariff_delete(tariff=obj)
        except TariffInUse as exc:
            raise PermissionDenied(str(exc)) from exc

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tariff]) -> None:
        for tariff in queryset:
            self.delete_model(request, tariff)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="billing_tariff_import"),
            path(
                "<int:pk>/import/",
                view(self.import_view),
                name="billing_tariff_import_version",
            ),
            path("<int:pk>/export/", view(self.export_view), name="billing_tariff_export"),
            path("<int:pk>/preview/", view(self.preview_view), name="billing_tariff_preview"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        """Paste OCPI JSON: a new tariff, or (with ``pk``) a new version of that one."""
        tariff = get_object_or_404(Tariff, pk=pk) if pk is not None else None
        allowed = (
            self.has_add_permission(request)
            if tariff is None
            else request.user.has_perm("billing.add_tariffversion")
        )
        if not allowed:
            raise PermissionDenied
        form = OcpiImportForm(request.POST or None, tariff=tariff)
        if request.method == "POST" and form.is_valid():
            pricing = form.cleaned_data["ocpi"]
            with transaction.atomic():
                if tariff is None:
                    tariff = tariff_create(
                        name=form.cleaned_data["name"],
                        pricing=pricing,
                        is_default=form.cleaned_data["is_default"],
                        created_by=request.user,
                    )
                    text = f"Tariff {tariff} imported as version 1."
                else:
                    version = tariff_version_create(
                        tariff=tariff, pricing=pricing, created_by=request.user
                    )
                    text = f"Imported as version {version.number} of {tariff}."
            self.message_user(request, text, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:billing_tariff_change", args=[tariff.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Import OCPI JSON as a new version of {tariff}"
            if tariff
            else "Import a tariff from OCPI JSON",
            "form": form,
        }
        return TemplateResponse(request, "billing/ocpi_import.html", context)

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The newest version (or ``?version=N``) as an OCPI 2.2.1 Tariff JSON download."""
        tariff = get_object_or_404(Tariff, pk=pk)
        if not self.has_view_permission(request, tariff):
            raise PermissionDenied
        versions = tariff.versions.prefetch_related("elements__components")
        number = request.GET.get("version")
        version = (
            versions.filter(number=int(number)).first()
            if number and number.isdigit()
            else versions.order_by("-number").first()
        )
        if version is None:
            return HttpResponse("No such version.", status=404, content_type="text/plain")
        body = json.dumps(tariff_to_ocpi(version.as_pricing()), indent=2, default=str)
        response = HttpResponse(body, content_type="application/json")
        filename = f"tariff-{tariff.pk}-v{version.number}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Price a session described in plain terms with one of the tariff's versions
        (billing.admin.preview). A GET form: nothing is stored, and the URL can be shared."""
        tariff = get_object_or_404(Tariff.objects.prefetch_related("versions"), pk=pk)
        if not self.has_view_permission(request, tariff):
            raise PermissionDenied
        bound = "energy_kwh" in request.GET
        form = TariffPreviewForm(request.GET if bound else None, tariff=tariff)
        priced, version = None, None
        if bound and form.is_valid():
            version = (
                tariff.versions.filter(number=form.cleaned_data["version"])
                .prefetch_related("elements__components")
                .first()
            )
            if version is not None:
                priced = preview_price(form, version)
        zone = form.cleaned_data.get("timezone") if priced else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": tariff,
            "title": f"Preview prices of {tariff}",
            "form": form,
            "priced": priced,
            "version": version,
            "periods": _period_rows(priced, zone) if priced else [],
        }
        return TemplateResponse(request, "billing/tariff_preview.html", context)


def _period_rows(priced: Any, zone: str | None) -> list[dict[str, Any]]:
    import zoneinfo

    tz = zoneinfo.ZoneInfo(zone or "UTC")
    return [
        {
            "start": period.start_date_time.astimezone(tz),
            "end": period.end_date_time.astimezone(tz),
            "state": "charging" if period.charging else "parked",
            "dimensions": ", ".join(
                f"{d.type} {d.volume.normalize():f}" for d in period.dimensions
            ),
            "elements": ", ".join(
                f"{dimension}: #{index}" for dimension, index in period.tariff_elements.items()
            ),
        }
        for period in priced.charging_periods
    ]
