"""The invoice PDF's layout: a pure function from an invoice's data (``InvoiceDocument``) to the
bytes of an A4 PDF, with reportlab. No database, no storage: ``wallet.services.invoices``
gathers the data and stores the file.

**Fonts and scripts.** The PDF uses Helvetica, one of the 14 standard PDF fonts: nothing is
embedded (small files, no font licence to ship) and every viewer has it. Its encoding
(WinAnsi, i.e. Windows-1252) covers Latin-1 and more: Western and Northern European names
("Zoë Müller", "Søren Åberg", "François Œuvre") and the euro sign render as they are. Other
characters have no glyph in Helvetica; ``pdf_text`` folds them to their base letter where
there is one ("Dvořák" -> "Dvorák", "Łukasz Wąs" -> "Lukasz Was") and writes "?" for the rest
(Cyrillic, Greek, CJK), so the PDF always renders and never shows empty boxes. The
invoice's data keeps the exact names (``Invoice.buyer``): to print other scripts, register a
TrueType font covering them (e.g. DejaVu Sans) with reportlab and pass its name as
``font``/``bold_font``.

One module past ~400 lines on purpose: it is one page layout, read top to bottom, and its
text and number formats above the layout serve only that page.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from wallet.money import quantize

ENCODING = "cp1252"  # Helvetica's WinAnsiEncoding in reportlab
# Latin letters Unicode does not decompose into a base letter and a mark.
_FOLD = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "\u0131": "i"})


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    volume: Decimal
    unit: str  # "kWh", "h", "session", "" (a rounding line)
    unit_price: Decimal | None
    vat_rate: Decimal | None  # percent; None: unknown
    amount_excl_vat: Decimal
    amount_incl_vat: Decimal | None
    show_volume: bool = True  # False: a rounding line (no quantity, no rate of its own)


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything the PDF shows, already decided (times in the zone they are shown in)."""

    number: str
    issued_at: dt.datetime
    currency: str
    seller: dict[str, str]
    buyer: dict[str, str]
    order_reference: str
    station: str
    site_name: str
    site_address: str
    started_at: dt.datetime
    stopped_at: dt.datetime
    duration_seconds: int
    energy_kwh: Decimal
    lines: list[InvoiceLine]
    vat_breakdown: list[dict[str, str]]  # [{rate, base, vat}] as Invoice.vat_breakdown
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    payment_note: str = "Paid from wallet"
    notes: list[str] = field(default_factory=list)
    # "INVOICE" (a first or supplementary invoice) or "CREDIT NOTE".
    title: str = "INVOICE"
    # A correcting document: the number (and issue date) of the invoice it corrects, and why.
    corrects: str = ""
    corrects_issued_at: dt.datetime | None = None
    reason: str = ""


def pdf_text(value: object) -> str:
    """``value`` as text Helvetica can show (see the module docstring), XML-escaped for a
    reportlab Paragraph."""
    text = str(value).translate(_FOLD)
    out = []
    for char in text:
        try:
            char.encode(ENCODING)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        try:
            base.encode(ENCODING)
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("?")
    return escape("".join(out))


def _amount(amount: Decimal, currency: str) -> Decimal:
    value = quantize(amount, currency)
    return abs(value) if value == 0 else value  # never "-0.00"


def money(amount: Decimal, currency: str) -> str:
    """``amount`` at the minor unit with its currency; negative (a credit note) as "-1.23"."""
    return f"{_amount(amount, currency):,f} {currency}"


def _plain(amount: Decimal, currency: str) -> str:
    return f"{_amount(amount, currency):,f}"


def unit_price_text(price: Decimal | None, currency: str) -> str:
    """A unit price as billed (up to 6 places), never fewer places than the currency has."""
    if price is None:
        return ""
    text = format(price.normalize(), "f")
    if price == quantize(price, currency):
        text = format(quantize(price, currency), "f")
    return text


def rate_text(rate: Decimal | str | None) -> str:
    if rate is None or rate == "":
        return "n/a"
    value = Decimal(rate).normalize()
    return f"{format(value, 'f')}%"


def volume_text(volume: Decimal, unit: str) -> str:
    if unit == "session" or not unit:
        return format(volume.normalize(), "f")
    return f"{volume.quantize(Decimal('0.001')):f} {unit}"


def duration_text(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _when(moment: dt.datetime) -> str:
    zone = moment.tzname() or ""
    return f"{moment:%Y-%m-%d %H:%M} {zone}".strip()


# --- Layout -------------------------------------------------------------------------------

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#52606d")
RULE = colors.HexColor("#cbd2d9")
BAND = colors.HexColor("#f0f4f8")
MARGIN = 18 * mm
# The frame's content width: the page less the margins and the frame's own 6 pt paddings.
WIDTH = A4[0] - 2 * MARGIN - 12


def _styles(font: str, bold: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=MUTED),
        "seller": ParagraphStyle("seller", parent=base, fontName=bold, fontSize=13, leading=16),
        "title": ParagraphStyle(
            "title", parent=base, fontName=bold, fontSize=20, leading=24, alignment=TA_RIGHT
        ),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
        "h": ParagraphStyle(
            "h", parent=base, fontName=bold, fontSize=10, leading=13, spaceBefore=8, spaceAfter=3
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "label": ParagraphStyle("label", parent=base, textColor=MUTED),
    }


def _grid(
    rows: list[list[object]], widths: list[float], *, numeric_from: int, font: str, bold: str
) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), bold, 8.5),
                ("FONT", (0, 1), (-1, -1), font, 8.5),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("BACKGROUND", (0, 0), (-1, 0), BAND),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
                ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def invoice_pdf(doc: InvoiceDocument, *, font: str = "Helvetica", bold_font: str = "") -> bytes:
    """The invoice as the bytes of an A4 PDF (one page for a usual session; long line lists
    flow onto more pages, the table header repeated)."""
    bold = bold_font or f"{font}-Bold"
    s = _styles(font, bold)
    cur = doc.currency
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm,
        title=f"{doc.title.capitalize()} {doc.number}",
        author=doc.seller.get("name", ""),
        subject=f"Charging session {doc.order_reference}",
    )
    seller = doc.seller
    seller_lines = [
        f'<font name="{bold}" size="13">{pdf_text(seller.get("name", ""))}</font>',
        *(pdf_text(x) for x in (seller.get("address", ""),) if x),
        *(f"VAT ID {pdf_text(x)}" for x in (seller.get("vat_id", ""),) if x),
        *(pdf_text(x) for x in (seller.get("email", ""),) if x),
    ]
    meta_rows = [
        [
            "Credit note number" if doc.title == "CREDIT NOTE" else "Invoice number",
            pdf_text(doc.number),
        ],
        ["Issue date", f"{doc.issued_at:%Y-%m-%d}"],
        ["Order", pdf_text(doc.order_reference)],
    ]
    if doc.corrects:
        meta_rows.append(["Corrects", pdf_text(doc.corrects)])
    meta = Table(
        meta_rows,
        colWidths=[28 * mm, 42 * mm],
    )
    meta.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (0, -1), font, 9),
                ("FONT", (1, 0), (1, -1), bold, 9),
                ("TEXTCOLOR", (0, 0), (0, -1), MUTED),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    header = Table(
        [
            [
                Paragraph("<br/>".join(seller_lines), s["base"]),
                [Paragraph(pdf_text(doc.title), s["title"]), Spacer(1, 3 * mm), meta],
            ]
        ],
        colWidths=[WIDTH - 70 * mm, 70 * mm],
    )
    header.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        )
    )

    buyer = doc.buyer
    buyer_parts = (buyer.get("name", ""), buyer.get("address", ""), buyer.get("email", ""))
    buyer_text = "<br/>".join(pdf_text(x) for x in buyer_parts if x) or "-"
    session_rows = [
        ("Station", doc.station),
        ("Site", doc.site_name),
        ("Address", doc.site_address),
        ("Started", _when(doc.started_at)),
        ("Stopped", _when(doc.stopped_at)),
        ("Duration", duration_text(doc.duration_seconds)),
        ("Energy", f"{doc.energy_kwh.quantize(Decimal('0.001')):f} kWh"),
    ]
    session_text = "<br/>".join(
        f'<font color="#52606d">{label}:</font> {pdf_text(value)}'
        for label, value in session_rows
        if value
    )
    parties = Table(
        [
            [Paragraph("Bill to", s["h"]), Paragraph("Charging session", s["h"])],
            [Paragraph(buyer_text, s["base"]), Paragraph(session_text, s["base"])],
        ],
        colWidths=[WIDTH * 0.42, WIDTH * 0.58],
    )
    parties.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )

    line_rows: list[list[object]] = [
        ["Description", "Quantity", "Unit price", "VAT", "Excl. VAT", "Incl. VAT"]
    ]
    for line in doc.lines:
        line_rows.append(
            [
                Paragraph(pdf_text(line.description), s["cell"]),
                volume_text(line.volume, line.unit) if line.show_volume else "",
                unit_price_text(line.unit_price, cur),
                rate_text(line.vat_rate) if line.show_volume else "",
                _plain(line.amount_excl_vat, cur),
                "" if line.amount_incl_vat is None else _plain(line.amount_incl_vat, cur),
            ]
        )
    lines = _grid(
        line_rows,
        [WIDTH - 120 * mm, 24 * mm, 22 * mm, 16 * mm, 29 * mm, 29 * mm],
        numeric_from=1,
        font=font,
        bold=bold,
    )

    vat_rows: list[list[object]] = [["VAT rate", f"Base ({cur})", f"VAT ({cur})"]]
    for row in doc.vat_breakdown:
        vat_rows.append(
            [
                rate_text(row.get("rate")),
                _plain(Decimal(row["base"]), cur),
                _plain(Decimal(row["vat"]), cur),
            ]
        )
    vat_table = _grid(vat_rows, [22 * mm, 28 * mm, 26 * mm], numeric_from=1, font=font, bold=bold)

    totals = Table(
        [
            ["Total excl. VAT", money(doc.total_excl_vat, cur)],
            ["VAT", money(doc.total_vat, cur)],
            ["Total incl. VAT", money(doc.total_incl_vat, cur)],
        ],
        colWidths=[34 * mm, 34 * mm],
    )
    totals.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 1), font, 9),
                ("FONT", (0, 2), (-1, 2), bold, 10.5),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEABOVE", (0, 2), (-1, 2), 0.8, INK),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    summary = Table([[vat_table, totals]], colWidths=[WIDTH - 72 * mm, 72 * mm], hAlign="LEFT")
    summary.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        )
    )

    correction: list[object] = []
    if doc.corrects:
        of = f" of {doc.corrects_issued_at:%Y-%m-%d}" if doc.corrects_issued_at else ""
        correction = [
            Spacer(1, 5 * mm),
            Paragraph(
                f'<font name="{bold}">Corrects invoice {pdf_text(doc.corrects)}</font>{of}',
                s["base"],
            ),
            *([Paragraph(f"Reason: {pdf_text(doc.reason)}", s["base"])] if doc.reason else []),
        ]

    story: list[object] = [
        header,
        *correction,
        Spacer(1, 8 * mm),
        parties,
        Spacer(1, 6 * mm),
        Paragraph("Correction" if doc.corrects else "Items", s["h"]),
        lines,
        Spacer(1, 5 * mm),
        KeepTogether([Paragraph("VAT breakdown", s["h"]), summary]),
        Spacer(1, 6 * mm),
        Paragraph(f'<font name="{bold}">Payment:</font> {pdf_text(doc.payment_note)}', s["base"]),
        *(Paragraph(pdf_text(note), s["small"]) for note in doc.notes),
    ]

    footer = "  |  ".join(
        pdf_text(x)
        for x in (seller.get("name", ""), seller.get("vat_id", ""), seller.get("email", ""))
        if x
    )

    def decorate(canvas: Canvas, template: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        left, right = MARGIN + 6, A4[0] - MARGIN - 6  # the frame's content edges
        canvas.line(left, MARGIN + 2 * mm, right, MARGIN + 2 * mm)
        canvas.setFont(font, 7.5)
        canvas.setFillColor(MUTED)
        # canvas strings are not markup: unescape what pdf_text escaped.
        plain = footer.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        canvas.drawString(left, MARGIN - 2 * mm, plain)
        canvas.drawRightString(
            right,
            MARGIN - 2 * mm,
            f"{pdf_text(doc.number)}  -  page {template.page}",
        )
        canvas.restoreState()

    pdf.build(story, onFirstPage=decorate, onLaterPages=decorate)  # type: ignore[arg-type]
    return buffer.getvalue()
