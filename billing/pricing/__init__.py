"""The pricing engine: pure functions, no ORM and no Django (tests/architecture checks it).

- ``billing.pricing.tariff``: a tariff as frozen dataclasses (OCPI 2.2.1 semantics);
- ``billing.pricing.ocpi``: those to and from OCPI 2.2.1 Tariff JSON, with errors naming the
  field;
- ``billing.pricing.engine``: ``price_session``, a tariff plus a session's meter timeline
  gives a priced record in OCPI CDR naming; its docstring states the pricing and rounding
  rules;
- ``billing.pricing.timeline``: the samples checked (``PricingInputError``) and cut into
  segments at every instant a restriction may switch (local time and DST, dates, durations,
  kWh crossings);
- ``billing.pricing.records``: the priced record (``PricedSession``, charging periods, cost
  lines) and its JSON form, ``to_ocpi()``.
"""
