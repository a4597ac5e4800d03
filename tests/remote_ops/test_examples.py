"""The example payloads shown in the API docs and the admin form are valid as given."""

from __future__ import annotations

import pytest

from ocpp_gateway import calls
from ocpp_gateway.operations import EXAMPLE_PAYLOADS
from ocpp_gateway.schemas import CENTRAL_ACTIONS
from tests.factories import make_charge_point, make_id_tag

pytestmark = pytest.mark.django_db

EXAMPLES = [
    pytest.param(action, payload, id=f"{action}: {title}")
    for action, items in EXAMPLE_PAYLOADS.items()
    for title, payload in items
]


def test_every_operation_has_an_example():
    assert set(EXAMPLE_PAYLOADS) == set(CENTRAL_ACTIONS)


@pytest.mark.parametrize("action,payload", EXAMPLES)
def test_the_example_passes_the_checks(action, payload):
    make_id_tag(id_tag="04A2B3C4")
    charge_point = make_charge_point()

    request, _ = calls.command_check(charge_point=charge_point, action=action, payload=payload)

    assert isinstance(request, dict)


def test_the_openapi_schema_documents_the_examples(operator_api):
    response = operator_api.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/charge-points/{identity}/commands/"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    actions = {example["value"]["action"] for example in examples.values()}
    assert actions == set(CENTRAL_ACTIONS)
    assert {"200", "202", "400", "404", "409", "504"} <= set(operation["responses"])
    summaries = [example["summary"] for example in examples.values()]
    assert "RemoteStartTransaction: Start for a tag on connector 1" in summaries
    assert any(s.startswith("SendLocalList: Differential") for s in summaries)
