"""Money is Decimal: no float enters billing or wallet. Scanned in the source (not just tested
by example): no float literal, no ``float(...)`` call, no FloatField. Reading a client's JSON
number is the one allowed contact (``isinstance(x, float)`` to convert it exactly or refuse it),
so ``float`` as a name in isinstance checks is fine."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MONEY_APPS = ("billing", "wallet")
# Files whose floats are not money, and why. Keep it short: each entry is a reviewed exception.
NOT_MONEY = {
    "wallet/invoices_pdf.py": "page geometry in points (reportlab's unit); amounts arrive as "
    "formatted Decimal strings",
}


def float_uses(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append((node.lineno, f"float literal {node.value!r}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "float":
                found.append((node.lineno, "float(...) call"))
        elif isinstance(node, ast.Attribute) and node.attr == "FloatField":
            found.append((node.lineno, "FloatField"))
    return found


def test_it_finds_floats_where_they_are() -> None:
    source = "x = 0.1\ny = float('2')\nz = models.FloatField()\nok = isinstance(v, float)\n"
    assert float_uses(source) == [
        (1, "float literal 0.1"),
        (2, "float(...) call"),
        (3, "FloatField"),
    ]


def test_billing_and_wallet_never_use_float() -> None:
    offenders = []
    for app in MONEY_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if str(path.relative_to(ROOT)) in NOT_MONEY:
                continue
            for line, what in float_uses(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert offenders == [], "money must be Decimal:\n" + "\n".join(offenders)
