"""The registry of central-system operations (ocpp_gateway.operations): one operation for every
central-system action of OCPP 1.6, examples that are valid as given (they are shown in the API
docs and the admin form), and a test file beside every family."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocpp_gateway import calls
from ocpp_gateway.operations import EXAMPLE_PAYLOADS, FAMILIES, OPERATIONS
from ocpp_gateway.schemas import CENTRAL_ACTIONS
from tests.factories import make_charge_point, make_id_tag

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent

EXAMPLES = [
    pytest.param(action, payload, id=f"{action}: {title}")
    for action, items in EXAMPLE_PAYLOADS.items()
    for title, payload in items
]


def _family_name(family) -> str:
    return family.__name__.rpartition(".")[2]


def test_it_has_an_operation_for_every_central_action():
    assert set(OPERATIONS) == set(CENTRAL_ACTIONS)
    assert all(operation.action == action for action, operation in OPERATIONS.items())


def test_it_has_an_example_for_every_operation():
    assert set(EXAMPLE_PAYLOADS) == set(CENTRAL_ACTIONS)


@pytest.mark.parametrize("action,payload", EXAMPLES)
def test_it_gives_examples_that_pass_the_checks(action, payload):
    make_id_tag(id_tag="04A2B3C4")
    charge_point = make_charge_point()

    request, _ = calls.command_check(charge_point=charge_point, action=action, payload=payload)

    assert isinstance(request, dict)


def test_it_documents_the_examples_in_the_openapi_schema(operator_api):
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


def test_it_has_every_operation_covered_by_the_tests_here():
    """The tests beside this file (not this file) name every central-system operation."""
    tests = [path for path in sorted(HERE.glob("test_*.py")) if path.name != Path(__file__).name]
    source = "\n".join(path.read_text() for path in tests)
    missing = [action for action in CENTRAL_ACTIONS if f'"{action}"' not in source]
    assert missing == []


@pytest.mark.parametrize("family", FAMILIES, ids=_family_name)
def test_it_has_each_family_tested_in_its_own_file(family):
    """ocpp_gateway/operations/<family>.py is tested by test_<family>.py, which names each of
    its operations."""
    source = (HERE / f"test_{_family_name(family)}.py").read_text()
    missing = [op.action for op in family.OPERATIONS if f'"{op.action}"' not in source]
    assert missing == []
