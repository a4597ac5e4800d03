"""The admin's tariff forms. A version is typed as rows, one per element, each with one price
per dimension and the restrictions as fields; the forms turn those rows into an OCPI 2.2.1
Tariff document and read it with ``billing.pricing.ocpi.tariff_from_ocpi``, so the admin
accepts exactly what the API accepts, and says what is wrong the same way.

One component per dimension per element is all the OCPI rules read (per dimension, the first
element whose restrictions hold); a version with more (imported JSON) is shown with the
first of each and a warning, and stays exact in its own rows and in the JSON export.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from billing.models import RESTRICTION_FIELDS, Tariff, TariffElement, TariffVersion
from billing.pricing.ocpi import TariffFormatError, tariff_from_ocpi
from billing.pricing.tariff import DayOfWeek, Dimension
from billing.pricing.tariff import Tariff as PricingTariff

# (form field prefix, dimension, what the price is per, step-size unit or None)
DIMENSIONS = [
    ("energy", Dimension.ENERGY, "per kWh", "Wh"),
    ("time", Dimension.TIME, "per hour charging", "seconds"),
    ("parking", Dimension.PARKING_TIME, "per hour connected, not charging", "seconds"),
    ("flat", Dimension.FLAT, "once per session", None),
]
COMPONENT_FIELDS = [
    name
    for prefix, _, _, unit in DIMENSIONS
    for name in (f"{prefix}_price", f"{prefix}_vat", *([f"{prefix}_step_size"] if unit else []))
]
# A stand-in for the half of the document a form does not hold, so each half is checked alone.
_STUB_ELEMENT = {"price_components": [{"type": "FLAT", "price": 0}]}
VERSION_PATHS = {
    "type": "type",
    "tariff_alt_url": "tariff_alt_url",
    "min_price.excl_vat": "min_price_excl_vat",
    "min_price.incl_vat": "min_price_incl_vat",
    "max_price.excl_vat": "max_price_excl_vat",
    "max_price.incl_vat": "max_price_incl_vat",
    "start_date_time": "start_date_time",
    "end_date_time": "end_date_time",
    "energy_mix": "energy_mix",
}


def _number(value: Decimal) -> str:
    return format(value, "f")


def display_text_lines(texts: list[dict[str, str]]) -> str:
    return "\n".join(f"{text['language']}: {text['text']}" for text in texts)


VERSION_FIELDS = [
    "tariff",
    "type",
    "display_text",
    "tariff_alt_url",
    "min_price_excl_vat",
    "min_price_incl_vat",
    "max_price_excl_vat",
    "max_price_incl_vat",
    "start_date_time",
    "end_date_time",
    "energy_mix",
]


class TariffVersionForm(forms.ModelForm):
    """The version's own fields; its elements are the inline formset below it."""

    display_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What drivers read, one language a line: 'en: 0.35/kWh, 2.00 per hour "
        "parked after 2 hours'.",
    )

    class Meta:
        model = TariffVersion
        # display_text is declared above (it fills tariff_alt_text).
        fields = [
            "tariff",
            "type",
            "tariff_alt_url",
            "min_price_excl_vat",
            "min_price_incl_vat",
            "max_price_excl_vat",
            "max_price_incl_vat",
            "start_date_time",
            "end_date_time",
            "energy_mix",
        ]

    def clean_display_text(self) -> list[dict[str, str]]:
        texts = []
        for number, line in enumerate(self.cleaned_data.get("display_text", "").splitlines(), 1):
            if not line.strip():
                continue
            language, sep, text = line.partition(":")
            if not sep or len(language.strip()) != 2 or not text.strip():
                raise ValidationError(
                    f"Line {number}: write a two-letter language, a colon and the text ('en: ...')."
                )
            texts.append({"language": language.strip().lower(), "text": text.strip()})
        return texts

    def document(self) -> dict[str, Any]:
        """The version-level members of the OCPI document (no elements)."""
        data = self.cleaned_data
        tariff: Tariff | None = data.get("tariff")
        doc: dict[str, Any] = {"currency": tariff.currency if tariff else "EUR"}
        if data.get("type"):
            doc["type"] = data["type"]
        if data.get("display_text"):
            doc["tariff_alt_text"] = data["display_text"]
        if data.get("tariff_alt_url"):
            doc["tariff_alt_url"] = data["tariff_alt_url"]
        for bound in ("min_price", "max_price"):
            price = {
                key: _number(data[f"{bound}_{key}"])
                for key in ("excl_vat", "incl_vat")
                if data.get(f"{bound}_{key}") is not None
            }
            if price:
                doc[bound] = price
        for key in ("start_date_time", "end_date_time"):
            if data.get(key) is not None:
                doc[key] = data[key].isoformat()
        if data.get("energy_mix") is not None:
            doc["energy_mix"] = data["energy_mix"]
        return doc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            tariff_from_ocpi({**self.document(), "elements": [_STUB_ELEMENT]})
        except TariffFormatError as exc:
            field = VERSION_PATHS.get(exc.field)
            if exc.field.startswith("tariff_alt_text"):
                field = "display_text"
            self.add_error(field, f"{exc.field}: {exc.message}" if field is None else exc.message)
        return data

    def validate_unique(self) -> None:
        # number is set when the version is published (billing.services); nothing to check.
        pass


class _ElementFormBase(forms.ModelForm):
    """One element: a price per dimension (empty: this element does not price it) and its
    restrictions (empty: no restriction)."""

    order = forms.IntegerField(
        required=False,
        min_value=0,
        help_text="Elements apply in this order (then as listed); first match wins.",
    )
    day_of_week_choice = forms.MultipleChoiceField(
        label="Days of week",
        required=False,
        choices=[(day.value, day.value.title()) for day in DayOfWeek],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every day.",
    )

    class Meta:
        model = TariffElement
        fields = [*RESTRICTION_FIELDS, "reservation"]

    def element(self) -> dict[str, Any] | None:
        """This row as an OCPI TariffElement; None for a row left empty or marked deleted."""
        data = self.cleaned_data
        if not data or data.get("DELETE"):
            return None
        components = []
        for prefix, dimension, _, unit in DIMENSIONS:
            price = data.get(f"{prefix}_price")
            if price is None:
                continue
            component: dict[str, Any] = {"type": dimension.value, "price": _number(price)}
            if data.get(f"{prefix}_vat") is not None:
                component["vat"] = _number(data[f"{prefix}_vat"])
            if unit:
                component["step_size"] = data.get(f"{prefix}_step_size") or 1
            components.append(component)
        restrictions: dict[str, Any] = {}
        for name in RESTRICTION_FIELDS:
            value = data.get(name)
            if value is None:
                continue
            if name.endswith("_time"):
                restrictions[name] = value.strftime("%H:%M")
            elif name.endswith("_date"):
                restrictions[name] = value.isoformat()
            elif isinstance(value, Decimal):
                restrictions[name] = _number(value)
            else:
                restrictions[name] = value
        if data.get("day_of_week_choice"):
            restrictions["day_of_week"] = list(data["day_of_week_choice"])
        if data.get("reservation"):
            restrictions["reservation"] = data["reservation"]
        if not components and not restrictions:
            return None
        element: dict[str, Any] = {"price_components": components}
        if restrictions:
            element["restrictions"] = restrictions
        return element


def _component_fields() -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {}
    for prefix, dimension, per, unit in DIMENSIONS:
        label = dimension.value.replace("_", " ").lower().capitalize()
        fields[f"{prefix}_price"] = forms.DecimalField(
            label=f"{label} price",
            required=False,
            min_value=Decimal(0),
            decimal_places=6,
            max_digits=13,
            help_text=f"Excl. VAT, {per}.",
        )
        fields[f"{prefix}_vat"] = forms.DecimalField(
            label=f"{label} VAT %",
            required=False,
            min_value=Decimal(0),
            max_value=Decimal(100),
            decimal_places=6,
            max_digits=9,
            help_text="Empty: not given (not 0).",
        )
        if unit:
            fields[f"{prefix}_step_size"] = forms.IntegerField(
                label=f"{label} step size",
                required=False,
                min_value=1,
                help_text=f"Billed in steps of this many {unit}; empty: 1.",
            )
    return fields


# Declared fields (the admin's fieldsets must name fields the form class has), made from
# DIMENSIONS rather than typed out eleven times.
TariffElementForm = type("TariffElementForm", (_ElementFormBase,), _component_fields())


class TariffElementFormSet(forms.BaseInlineFormSet):
    """Checks the elements together, as OCPI reads them, and names the row of a mistake."""

    def ordered_elements(self) -> list[tuple[forms.Form, dict[str, Any]]]:
        rows = []
        for index, form in enumerate(self.forms):
            if not hasattr(form, "cleaned_data"):
                continue
            element = form.element()  # type: ignore[attr-defined]
            if element is not None:
                order = form.cleaned_data.get("order")
                rows.append(((order if order is not None else index, index), form, element))
        rows.sort(key=lambda row: row[0])
        return [(form, element) for _, form, element in rows]

    def elements(self) -> list[dict[str, Any]]:
        return [element for _, element in self.ordered_elements()]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        rows = self.ordered_elements()
        if not rows:
            raise ValidationError("A tariff needs at least one element with a price.")
        try:
            tariff_from_ocpi({"currency": "EUR", "elements": [element for _, element in rows]})
        except TariffFormatError as exc:
            # "elements[2].restrictions.max_kwh" -> row 2, field max_kwh
            head, _, rest = exc.field.partition("].")
            index = int(head.removeprefix("elements[")) if head.startswith("elements[") else 0
            form = rows[min(index, len(rows) - 1)][0]
            field = rest.removeprefix("restrictions.")
            if field == "day_of_week" or field.startswith("day_of_week["):
                field = "day_of_week_choice"
            if field in form.fields:
                form.add_error(field, exc.message)
            else:
                form.add_error(None, f"{rest or exc.field}: {exc.message}")
            raise ValidationError(f"Element {index + 1}: {exc}") from None


def version_initial(version: TariffVersion) -> dict[str, Any]:
    """The version form's fields from ``version`` (the start of "edit → new version")."""
    initial: dict[str, Any] = {
        name: getattr(version, name) for name in TariffVersionForm.Meta.fields if name != "tariff"
    }
    initial["tariff"] = version.tariff_id
    initial["display_text"] = display_text_lines(version.tariff_alt_text)
    return initial


def elements_initial(version: TariffVersion) -> tuple[list[dict[str, Any]], bool]:
    """One form's initial data per element of ``version``; True when some element has more
    than one component of a dimension (only the first of each is shown)."""
    rows, lossy = [], False
    for element in version.elements.all():
        row: dict[str, Any] = {name: getattr(element, name) for name in RESTRICTION_FIELDS}
        row["reservation"] = element.reservation
        row["day_of_week_choice"] = list(element.day_of_week)
        seen: set[str] = set()
        for component in element.components.all():
            prefix = next(p for p, d, _, _ in DIMENSIONS if d.value == component.type)
            if component.type in seen:
                lossy = True
                continue
            seen.add(component.type)
            row[f"{prefix}_price"] = component.price
            row[f"{prefix}_vat"] = component.vat
            if prefix != "flat":
                row[f"{prefix}_step_size"] = component.step_size
        rows.append(row)
    return rows, lossy


def pricing_from_forms(
    version_form: TariffVersionForm, element_formset: TariffElementFormSet
) -> PricingTariff:
    """The version both forms describe (each half already checked in its ``clean``)."""
    return tariff_from_ocpi({**version_form.document(), "elements": element_formset.elements()})


class OcpiImportForm(forms.Form):
    """Paste an OCPI 2.2.1 Tariff object (a roaming partner's, or our own export)."""

    name = forms.CharField(max_length=100, help_text="Our name for it.")
    is_default = forms.BooleanField(required=False, help_text="Make it the default tariff.")
    ocpi = forms.CharField(
        label="OCPI Tariff JSON",
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "vLargeTextField"}),
    )

    def __init__(self, *args: Any, tariff: Tariff | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tariff = tariff
        if tariff is not None:  # a new version of an existing tariff
            del self.fields["name"]
            del self.fields["is_default"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Tariff.objects.filter(name=name).exists():
            raise ValidationError(f"A tariff named {name!r} exists.")
        return name

    def clean_ocpi(self) -> PricingTariff:
        try:
            data = json.loads(self.cleaned_data["ocpi"])
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"Not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        try:
            pricing = tariff_from_ocpi(data)
        except TariffFormatError as exc:
            raise ValidationError(str(exc)) from None
        if self.tariff is not None and pricing.currency != self.tariff.currency:
            raise ValidationError(
                f"currency: this tariff is in {self.tariff.currency}; a version cannot change "
                "it. Import it as a new tariff instead."
            )
        return pricing
