"""REST API (DRF) of the core domain, under /api/v1/, one module per sub-domain (stations,
authorization, transactions, logs); ``common`` holds the plumbing every app's API shares.

Views parse the request (strictly: an unreadable filter is a 400, never ignored), read through
csms.selectors and write through csms.services. Permissions come from the project default,
csms.permissions.IsStaffRole: operators read and write, support staff read, others 403.
"""
