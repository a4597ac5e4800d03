"""Payment providers behind one interface (``wallet.payments.base.PaymentProvider``): the
sandbox (built in, the default) and Stripe. ``provider_get(name)``; no name: the configured
``PAYMENT_PROVIDER``."""

from __future__ import annotations

from django.conf import settings

from wallet.payments.base import PaymentProvider, ProviderUnavailable
from wallet.payments.sandbox import SandboxProvider
from wallet.payments.stripe import StripeProvider

PROVIDERS: dict[str, PaymentProvider] = {
    "sandbox": SandboxProvider(),
    "stripe": StripeProvider(),
}


class UnknownProvider(ProviderUnavailable):
    pass


def provider_get(name: str | None = None) -> PaymentProvider:
    """The provider called ``name`` (default: PAYMENT_PROVIDER), available or not (ask its
    ``available()``). UnknownProvider for a name we have no provider of."""
    name = name or settings.PAYMENT_PROVIDER
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(
            f"Unknown payment provider {name!r}: use one of {', '.join(PROVIDERS)}."
        ) from None
