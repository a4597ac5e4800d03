"""Reads of the core domain, one module per sub-domain, shaped for the API and the admin.

Every list selector returns a lazy QuerySet with the joins its callers need already declared
(select_related / prefetch_related), so a page of results costs a fixed number of queries
however many rows it holds. Filters arrive already parsed (datetimes, booleans); turning query
strings into them is the API layer's job (csms.api.common).
"""
