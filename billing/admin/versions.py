"""Admin of tariff versions: the new-version page (the newest version's fields and one
stacked form per element, published with ``billing.services.tariff_version_create``), the
read-only page of a published version, and the element and component rows (hidden: they are
edited only as part of a new version). The tariff's own page is ``billing.admin.tariffs``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from billing.admin.forms import (
    COMPONENT_FIELDS,
    VERSION_FIELDS,
    TariffElementForm,
    TariffElementFormSet,
    TariffVersionForm,
    display_text_lines,
    elements_initial,
    pricing_from_forms,
    version_initial,
)
from billing.admin.tariffs import (
    _components_text,
    _new_version_url,
    _restrictions_text,
)
from billing.models import (
    RESTRICTION_FIELDS,
    PriceComponent,
    TariffElement,
    TariffVersion,
)
from billing.pricing.ocpi import tariff_to_ocpi
from billing.services import (
    tariff_version_create,
)
from csms.admin.common import pretty_json


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
