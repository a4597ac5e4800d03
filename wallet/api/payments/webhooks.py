"""What payment providers call and the sandbox's page.

- ``/api/v1/payments/webhooks/<provider>/`` (providers): no authentication, no CSRF: the
  signature is the authentication (``wallet.payments.base``). 200 for every verified event,
  400 for a bad signature, a stale timestamp or a malformed body, 409 for an event about a
  refund whose reference is not saved yet (the provider retries it; see
  ``wallet.services.payments``).
- ``/payments/sandbox/<token>/``: the sandbox's checkout page (a form with CSRF).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from wallet.models import TopUp
from wallet.payments import UnknownProvider, provider_get, sandbox
from wallet.payments.base import ProviderUnavailable, WebhookError
from wallet.services.payments import EventNotReady, webhook_receive

# --- Webhooks --------------------------------------------------------------------------------


class WebhookOutputSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    outcome = serializers.CharField()


class WebhookApi(APIView):
    """No authentication and no CSRF (there is no session): the provider's signature is
    verified instead, on the raw body."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A payment provider's webhook",
        description="The raw body, signed by the provider: `Sandbox-Signature: "
        't=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (sandbox) or Stripe\'s '
        "`Stripe-Signature`. 200 for every verified event (handled or ignored: see the "
        "outcome); 409 for an event about a refund whose reference is not saved yet (retried "
        "by the provider); 400 for a bad signature, a stale timestamp (older than "
        "PAYMENT_WEBHOOK_TOLERANCE seconds) or a malformed body; 404 for a provider not "
        "available here.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: WebhookOutputSerializer,
            400: OpenApiResponse(description="Refused: nothing was processed."),
            404: OpenApiResponse(description="No such provider here."),
            409: OpenApiResponse(
                WebhookOutputSerializer,
                description="Not yet: the event is about a refund still being sent to the "
                "provider. Nothing was stored; the provider delivers it again later.",
            ),
        },
        examples=[
            OpenApiExample(
                "Sandbox: payment succeeded",
                value={
                    "id": "evt_sbx_4f1c2a",
                    "type": "payment.succeeded",
                    "created": 1740816000,
                    "data": {
                        "reference": "sbx_pay_Gm1x0cQ8V9k2kq2mH1W1oG3h",
                        "amount": "20.00",
                        "currency": "EUR",
                    },
                },
                request_only=True,
            ),
            OpenApiExample(
                "Credited",
                value={"received": True, "outcome": "credited top-up 17"},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, provider: str) -> Response:
        try:
            outcome = webhook_receive(
                provider=provider, payload=request.body, headers=request.headers
            )
        except (UnknownProvider, ProviderUnavailable):
            raise exceptions.NotFound(f"No payment provider {provider!r} here.") from None
        except WebhookError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        except EventNotReady as exc:
            # Non-2xx on purpose: the provider retries later, when it can be applied.
            return Response({"received": False, "outcome": str(exc)}, status=409)
        return Response({"received": True, "outcome": outcome})


# --- The sandbox's checkout page -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sandbox_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """The sandbox's payment page: the amount, and Pay / Decline. Pressing one delivers the
    webhook a provider would, signed, through the same verification as the public endpoint."""
    if provider_get("sandbox").available() is not None:
        raise Http404("The sandbox is not available here.")
    reference = sandbox.checkout_reference(token)
    top_up = (
        TopUp.objects.filter(provider="sandbox", provider_reference=reference)
        .select_related("wallet__user")
        .first()
        if reference
        else None
    )
    if top_up is None:
        raise Http404("No such payment.")
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("pay", "decline") or top_up.state != TopUp.State.PENDING:
            return HttpResponse("Nothing to do: reload the page.", status=400)
        body, headers = sandbox.event_build(
            top_up=top_up,
            type="payment.succeeded" if decision == "pay" else "payment.failed",
            failure_reason="" if decision == "pay" else "declined in the sandbox",
        )
        webhook_receive(provider="sandbox", payload=body, headers=headers)
        return HttpResponseRedirect(reverse("wallet-sandbox-checkout", args=[token]))
    return render(request, "wallet/sandbox_checkout.html", {"top_up": top_up})
