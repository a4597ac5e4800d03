"""Admin of sites: address, coordinates, time zone, opening hours; the stations at each site
(set on the station's page) and the tariffs assigned to it."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from billing.models import Site, TariffAssignment
from csms.admin.common import change_url, changelist_url
from csms.models import ChargePoint


class SiteAssignmentInline(admin.TabularInline):
    model = TariffAssignment
    fk_name = "site"
    fields = ["tariff", "valid_from", "valid_until"]
    extra = 0
    verbose_name = "tariff assignment"
    verbose_name_plural = "tariffs assigned to this site (a station's or connector's own wins)"


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "country", "timezone", "station_count"]
    list_filter = ["country", "timezone"]
    search_fields = ["name", "city", "address", "postal_code"]
    readonly_fields = ["stations", "created_at", "updated_at"]
    inlines = [SiteAssignmentInline]
    fieldsets = [
        (None, {"fields": ["name", "address", "postal_code", "city", "country"]}),
        ("Where and when", {"fields": ["latitude", "longitude", "timezone", "opening_hours"]}),
        ("Stations", {"fields": ["stations"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return super().get_queryset(request).annotate(station_count=Count("charge_points"))

    @admin.display(description="stations", ordering="station_count")
    def station_count(self, obj: Site) -> int:
        return getattr(obj, "station_count", 0)

    @admin.display(description="stations at this site")
    def stations(self, obj: Site) -> SafeString | str:
        if obj.pk is None:
            return "-"
        stations = list(ChargePoint.objects.filter(site=obj).order_by("identity"))
        if not stations:
            return "None yet: choose this site on a station's page."
        links = format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((change_url(station), station.identity) for station in stations),
        )
        listing = changelist_url(ChargePoint, site__id__exact=obj.pk)
        return format_html_join(
            "", '{} (<a href="{}">{} in the station list</a>)', [(links, listing, len(stations))]
        )
