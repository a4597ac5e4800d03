"""REST API of billing under /api/v1/ (routes in ``billing.urls``), one module per
sub-domain: ``sites``, ``tariffs`` (tariffs, versions, OCPI import/export, assignments, the
tariff that applies to a station), ``orders`` (orders, CSV exports, revenue, the cost so
far on the transaction detail). Thin DRF views that parse with csms.api.common (strict
query parsing, pagination, error shape, ``*_or_404``), read through billing.selectors and
write through billing.services. Permissions are the project default,
csms.permissions.IsStaffRole: operators read and write, support staff read, others 403.
"""
