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
    COMPONENT_FIELDS,
    VERSION_FIELDS,
    OcpiImportForm,
    TariffElementForm,
    TariffElementFormSet,
    TariffVersionForm,
    display_text_lines,
    elements_initial,
    pricing_from_forms,
    version_initial,
)
from billing.admin.preview import TariffPreviewForm, preview_price
from billing.models import (
    RESTRICTION_FIELDS,
    PriceComponent,
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
from csms.admin.common import change_url, pretty_json


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


# --- Versions -------------------------------------------------------------------------------


class ElementEditInline(admin.StackedInline):
    """The new-version page's elements: a price per dimension and the restrictions."""

    model = TariffElement
    form = TariffElementForm
    formset = TariffElementFormSet
    extra = 1
    verbose_name = "element"
    verbose_name_plural = "elements (per dimension, the first element whose restrictions hold)"
    fieldsets = [
        (None, {"fields": ["order", *COMPONENT_FIELDS]}),
        (
            "Restrictions (empty: always)",
            {"fields": [*RESTRICTION_FIELDS, "day_of_week_choice", "reservation"]},
        ),
    ]

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        source = getattr(request, "_tariff_source", None)
        return len(source.elements.all()) + 1 if source is not None else 1


class ElementReadInline(admin.TabularInline):
    model = TariffElement
    fields = ["number", "prices", "when"]
    readonly_fields = ["number", "prices", "when"]
    extra = 0
    can_delete = False
    verbose_name_plural = "elements"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="#")
    def number(self, obj: TariffElement) -> int:
        return obj.position + 1

    @admin.display(description="prices (excl. VAT)")
    def prices(self, obj: TariffElement) -> str:
        return _components_text(obj)

    @admin.display(description="when")
    def when(self, obj: TariffElement) -> str:
        return _restrictions_text(obj)


@admin.register(TariffVersion)
class TariffVersionAdmin(admin.ModelAdmin):
    form = TariffVersionForm
    list_display = ["tariff", "number", "created_at", "created_by", "start_date_time"]
    list_filter = ["tariff"]
    list_select_related = ["tariff", "created_by"]
    readonly_fields = ["ocpi_json", "new_version_link"]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [ElementEditInline] if obj is None else [ElementReadInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(VERSION_FIELDS)
        if obj is None:
            return fields
        return ["tariff", "number", "new_version_link", *fields[1:], "created_at", "created_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [*self.get_fields(request, obj), "ocpi_json"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = [(None, {"fields": self.get_fields(request, obj)})]
        if obj is not None:
            fieldsets.append(("OCPI JSON", {"classes": ["collapse"], "fields": ["ocpi_json"]}))
        return fieldsets

    # A published version never changes, and is never deleted on its own: sessions keep it.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="display text")
    def display_text(self, obj: TariffVersion) -> str:
        return display_text_lines(obj.tariff_alt_text) or "-"

    @admin.display(description="OCPI JSON")
    def ocpi_json(self, obj: TariffVersion) -> SafeString:
        return pretty_json(tariff_to_ocpi(obj.as_pricing()))

    @admin.display(description="change")
    def new_version_link(self, obj: TariffVersion) -> SafeString:
        url = _new_version_url(obj.tariff) + f"&from={obj.number}"
        return format_html(
            '<a href="{}">Edit → save as a new version</a> (this one stays as it is)', url
        )

    def _source(self, request: HttpRequest) -> TariffVersion | None:
        """The version a new-version page starts from: ``?tariff=ID`` (its newest) or with
        ``&from=N``. Only on the page's first load: once posted, the form is what counts."""
        if request.method != "GET" or not str(request.GET.get("tariff", "")).isdigit():
            return None
        versions = TariffVersion.objects.filter(tariff_id=int(request.GET["tariff"]))
        number = request.GET.get("from")
        if number and number.isdigit():
            versions = versions.filter(number=int(number))
        return versions.prefetch_related("elements__components").order_by("-number").first()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        source = self._source(request)
        request._tariff_source = source  # type: ignore[attr-defined]
        if source is not None:
            _, lossy = elements_initial(source)
            if lossy:
                self.message_user(
                    request,
                    f"{source} has elements with several components of one dimension "
                    "(imported JSON): only the first of each is shown here. To keep them "
                    "all, import the JSON as a new version instead.",
                    messages.WARNING,
                )
        return super().add_view(request, form_url, extra_context)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        source = getattr(request, "_tariff_source", None)
        if source is not None:
            initial.update(version_initial(source))
        return initial

    def get_formset_kwargs(
        self, request: HttpRequest, obj: Any, inline: Any, prefix: str
    ) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        source = getattr(request, "_tariff_source", None)
        if source is not None and isinstance(inline, ElementEditInline):
            kwargs["initial"] = elements_initial(source)[0]
        return kwargs

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Nothing yet: the version and its elements are published together in save_related.
        pass

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        elements = next(f for f in formsets if isinstance(f, TariffElementFormSet))
        pricing = pricing_from_forms(form, elements)
        version = tariff_version_create(
            tariff=form.cleaned_data["tariff"], pricing=pricing, created_by=request.user
        )
        # The admin's own bookkeeping (change message, log entry, redirect) reads the form's
        # instance and what the formsets saved.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        form.instance.pk = version.pk
        form.instance.number = version.number
        form.instance.tariff = version.tariff


class _HiddenReadOnly(admin.ModelAdmin):
    """Rows of a version, shown on its page: registered (every model of ours is) but kept
    off the index, and never edited."""

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TariffElement)
class TariffElementAdmin(_HiddenReadOnly):
    list_display = ["version", "position"]


@admin.register(PriceComponent)
class PriceComponentAdmin(_HiddenReadOnly):
    list_display = ["element", "position", "type", "price", "vat", "step_size"]
