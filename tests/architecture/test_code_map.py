"""The README's "Code map" finds any station action or central-system operation in one hop:
its handler or operation module, its service and its test file. This keeps the tables true
as the code moves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from ocpp_gateway import handlers
from ocpp_gateway.operations import FAMILIES, OPERATIONS
from ocpp_gateway.schemas import CENTRAL_ACTIONS, STATION_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def table_after(heading: str) -> dict[str, list[str]]:
    """The rows of the first Markdown table after ``heading``: first cell -> the other cells."""
    section = README[README.index(heading) :]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not set(cells[0]) <= set("-") and cells[0] not in ("Action", "Operation"):
                rows[cells[0]] = cells[1:]
        elif rows:
            break
    return rows


STATION_TABLE = table_after("**Station actions**")
OPERATION_TABLE = table_after("**Central-system operations**")


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def services_named(cell: str) -> list[tuple[str, str]]:
    """(module, function) per service in a cell; a bare name is in the module before it."""
    found: list[tuple[str, str]] = []
    module = ""
    for name in code_names(cell):
        if "." in name:
            module, name = name.split(".", 1)
        found.append((module, name))
    return found


def test_it_lists_every_station_action_and_every_central_operation():
    assert set(STATION_TABLE) == set(STATION_ACTIONS)
    assert set(OPERATION_TABLE) == set(CENTRAL_ACTIONS) == set(OPERATIONS)


@pytest.mark.parametrize("action", sorted(STATION_TABLE))
def test_it_points_each_station_action_at_its_handler_service_and_test(action: str):
    handler, service, test = STATION_TABLE[action]

    assert handlers.HANDLERS[action].__name__ == code_names(handler)[0]
    for module, name in services_named(service):
        assert hasattr(importlib.import_module(f"csms.services.{module}"), name), (module, name)
    test_file = ROOT / "tests" / "ocpp_gateway" / code_names(test)[0]
    assert action in test_file.read_text(), f"{test_file.name} never mentions {action}"


@pytest.mark.parametrize("action", sorted(OPERATION_TABLE))
def test_it_points_each_operation_at_its_module_service_and_test(action: str):
    module, service, test = OPERATION_TABLE[action]

    family = next(
        f for f in FAMILIES if f.__name__.rsplit(".", 1)[1] + ".py" == code_names(module)[0]
    )
    assert action in {operation.action for operation in family.OPERATIONS}
    for service_module, name in services_named(service):
        imported = importlib.import_module(f"csms.services.{service_module}")
        assert hasattr(imported, name), (service_module, name)
    test_file = ROOT / "tests" / "ocpp_gateway" / "operations" / code_names(test)[0]
    assert action in test_file.read_text(), f"{test_file.name} never mentions {action}"


@pytest.mark.parametrize("folder", re.findall(r"^\| `([\w/]+/)`", README, flags=re.MULTILINE))
def test_it_names_only_folders_that_exist(folder: str):
    assert (ROOT / folder).is_dir()
