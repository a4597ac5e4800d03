"""Dependencies point one way: ocpp_gateway, billing, wallet (and the simulator) build on
csms; csms's domain code never imports them. Only the project wiring composes the apps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSMS = ROOT / "csms"
# The apps built on csms: csms must reach them only through signals and on_commit hooks.
DOWNSTREAM = frozenset({"ocpp_gateway", "billing", "wallet", "simulator"})
# Project wiring: settings, URL and ASGI routing, the Celery app. They name every app.
WIRING = frozenset({"settings.py", "urls.py", "asgi.py", "celery.py"})
# Migrations are generated and frozen: 0001 names billing.Tariff as the station's tariff FK.
SKIPPED_DIRS = frozenset({"migrations", "__pycache__"})


def domain_modules() -> list[Path]:
    return sorted(
        path
        for path in CSMS.rglob("*.py")
        if not SKIPPED_DIRS & set(path.relative_to(CSMS).parts)
        and path.relative_to(CSMS).as_posix() not in WIRING
    )


def _names_a_module(text: str) -> bool:
    """A dotted path into a downstream app. Not a lazy model reference by app label
    (``"billing.Tariff"``, a ForeignKey target): that is a link in the schema, resolved by the
    app registry, and no import."""
    head, _, rest = text.partition(".")
    if head not in DOWNSTREAM or " " in text:
        return False
    if not rest:  # the bare app: import_module("ocpp_gateway"), apps.is_installed("billing")
        return True
    return not (rest[:1].isupper() and "." not in rest)


def downstream_references(source: str) -> list[tuple[int, str]]:
    """(line, what) for every import of a downstream app, and every string naming one of its
    modules by dotted path (``include("ocpp_gateway.urls")``, ``import_module(...)``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _names_a_module(node.value):
                names = [node.value]
        for name in names:
            if name.split(".", 1)[0] in DOWNSTREAM:
                found.append((getattr(node, "lineno", 0), name))
    return found


def test_it_finds_the_csms_domain_modules():
    modules = {path.relative_to(CSMS).as_posix() for path in domain_modules()}
    assert {"services/stations.py", "models/__init__.py", "signals.py"} <= modules
    assert not modules & WIRING


@pytest.mark.parametrize(
    "path", domain_modules(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_it_keeps_csms_free_of_downstream_imports(path: Path):
    references = downstream_references(path.read_text())

    assert references == [], (
        f"{path.relative_to(ROOT)} depends on an app built on csms: {references}. Send a "
        "signal (csms.signals) or an on_commit hook that the app subscribes to instead."
    )


@pytest.mark.parametrize(
    "source",
    [
        "import ocpp_gateway",
        "from ocpp_gateway.calls import command_send",
        "import billing.models as b",
        "def f():\n    from wallet import services\n",
        "include('ocpp_gateway.api.urls')",
        "importlib.import_module('ocpp_gateway')",
        "apps.get_app_config('billing')",
    ],
)
def test_it_catches_every_way_of_importing_downstream(source: str):
    assert downstream_references(source)


def test_it_lets_csms_name_its_own_modules_models_by_label_and_plain_words():
    source = (
        "from csms.models import ChargePoint\n"
        "tariff = models.ForeignKey('billing.Tariff', on_delete=models.SET_NULL)\n"
        "help_text = 'billing. See the docs.'\n"
    )

    assert downstream_references(source) == []


SIMULATOR = ROOT / "simulator"
# The simulator is a charge point, not part of the server: it runs against any OCPP 1.6J
# central system, so it may import neither Django nor any app of this platform.
SERVER_SIDE = frozenset(
    {"django", "rest_framework", "channels", "csms", *DOWNSTREAM} - {"simulator"}
)


def imported_roots(source: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".", 1)[0] in SERVER_SIDE]


@pytest.mark.parametrize(
    "path", sorted(SIMULATOR.rglob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_it_keeps_the_simulator_free_of_server_imports(path: Path):
    assert imported_roots(path.read_text()) == [], (
        f"{path.relative_to(ROOT)} imports the server side; the simulator must run against "
        "any central system with nothing but the ocpp package and websockets."
    )


def test_it_catches_a_django_import_in_the_simulator():
    assert imported_roots("import django\nfrom csms.models import ChargePoint\n") == [
        (1, "django"),
        (2, "csms.models"),
    ]


PRICING = ROOT / "billing" / "pricing"
# The pricing engine is pure: a tariff and a timeline in, a priced record out. Without
# Django (or any app) it runs in a test, a worker, a notebook or another service alike, and
# can never reach the database in the middle of a price.
PRICING_FORBIDDEN = SERVER_SIDE - {"billing"}


def pricing_imports(source: str) -> list[tuple[int, str]]:
    found = imported_roots(source)
    found = [(line, name) for line, name in found if name.split(".", 1)[0] in PRICING_FORBIDDEN]
    found += [
        (line, name)
        for line, name in imported_roots(source)
        if name.startswith("billing.") and not name.startswith("billing.pricing")
    ]
    return sorted(found)


@pytest.mark.parametrize(
    "path", sorted(PRICING.rglob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_it_keeps_the_pricing_engine_free_of_django_and_the_apps(path: Path):
    assert pricing_imports(path.read_text()) == [], (
        f"{path.relative_to(ROOT)} imports Django or an app; billing.pricing takes plain "
        "data (billing.pricing.tariff) and returns plain data."
    )


def test_it_catches_django_and_orm_imports_in_the_pricing_engine():
    source = (
        "import django\nfrom billing.models import Tariff\nfrom billing.pricing import tariff\n"
    )

    assert pricing_imports(source) == [(1, "django"), (2, "billing.models")]
