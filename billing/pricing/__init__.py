"""The pricing engine: pure functions, no ORM and no Django (tests/architecture checks it).

- ``billing.pricing.tariff``: a tariff as frozen dataclasses (OCPI 2.2.1 semantics);
- ``billing.pricing.ocpi``: those to and from OCPI 2.2.1 Tariff JSON, with errors naming the
  field;
- ``billing.pricing.engine``: a tariff plus a session's meter timeline gives a priced record
  in OCPI CDR naming.
"""
