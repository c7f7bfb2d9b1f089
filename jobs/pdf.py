"""The one PDF renderer of the product: Jinja templates of templates/pdf/ turned into PDF by xhtml2pdf."""

from __future__ import annotations

import io
import logging
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from sqlalchemy.orm import Session
from xhtml2pdf import default as xhtml2pdf_default
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from models.base import utcnow
from models.outbox.operations import template_environment
from models.requests.entities import HospitalCoverageRequest
from models.requests.workflow import local_today

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: How long after the admission date the letter stays valid.
COVERAGE_LETTER_VALID_DAYS = 30
MESE_CONTACT = {"phone": "04 76 60 56 36", "email": "fr-contact@mese.se.com"}

_POLICY = ResourceAccessPolicy.server(base_dir=STATIC_DIR, allow_remote=False)
_render_lock = threading.Lock()
#: The font family of templates/pdf (``font-family: DejaVu``): its faces by (bold, italic), from static/fonts.
FONT_FAMILY = "dejavu"
FONT_FACES = {(0, 0): "DejaVuSans.ttf", (1, 0): "DejaVuSans-Bold.ttf"}
_fonts_registered: list[bool] = []


class PdfRenderError(RuntimeError):
    """The PDF could not be rendered, or it asked for a resource outside static/ (refused)."""


class _Refusals(logging.Handler):
    """Collects xhtml2pdf's "Blocked by the resource policy" warnings, which it does not report in ``err``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.blocked: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Blocked by the resource policy" in message:
            self.blocked.append(message)


def _link_callback(uri: str, _rel: str) -> str:
    # Only /static/... maps to a file; anything else goes to the policy as is, which refuses it.
    if uri.startswith("/static/"):
        path = (STATIC_DIR / uri.removeprefix("/static/")).resolve()
        if path.is_relative_to(STATIC_DIR) and path.is_file():
            return str(path)
    return uri


def register_fonts() -> None:
    """Parse the TrueType faces of the PDFs once per process and make ``font-family: DejaVu`` name them.

    With ``@font-face`` in the templates, xhtml2pdf parsed the rule, resolved the file and hashed the whole
    font file again on every render; the faces registered here are shared by every later render.
    """
    if _fonts_registered:
        return
    names = {}
    for (bold, italic), filename in FONT_FACES.items():
        name = f"MESE-{filename.removesuffix('.ttf')}"
        pdfmetrics.registerFont(TTFont(name, str(STATIC_DIR / "fonts" / filename)))
        names[(bold, italic)] = name
    regular, bold_face = names[(0, 0)], names[(1, 0)]
    for face in (FONT_FAMILY, regular, bold_face):
        for is_bold in (0, 1):
            for is_italic in (0, 1):  # no italic face: the upright one stands in for it
                addMapping(face, is_bold, is_italic, bold_face if is_bold else regular)
    xhtml2pdf_default.DEFAULT_FONT[FONT_FAMILY] = regular
    _fonts_registered.append(True)


def html_to_pdf(html: str) -> bytes:
    """Render trusted, already escaped HTML to PDF; resources may only come from static/.

    Raises PdfRenderError when the HTML is broken or asks for any other file or a remote address.
    """
    out = io.BytesIO()
    refusals = _Refusals()
    xhtml2pdf_log = logging.getLogger("xhtml2pdf")
    with _render_lock:
        register_fonts()
        xhtml2pdf_log.addHandler(refusals)
        try:
            status = pisa.CreatePDF(html, dest=out, encoding="utf-8", link_callback=_link_callback,
                                    resource_policy=_POLICY)
        finally:
            xhtml2pdf_log.removeHandler(refusals)
    if refusals.blocked:
        raise PdfRenderError("resource refused: " + "; ".join(refusals.blocked))
    if status.err:
        raise PdfRenderError(f"xhtml2pdf reported {status.err} error(s)")
    return out.getvalue()


def render_pdf(template_name: str, context: dict[str, Any], language: str = "fr") -> bytes:
    """Render ``templates/<template_name>`` (e.g. ``pdf/coverage_letter.html``) in ``language`` to PDF bytes."""
    html = template_environment(language).get_template(template_name).render(**context)
    return html_to_pdf(html)


def coverage_letter_context(request: HospitalCoverageRequest, *, issued_on: date) -> dict[str, Any]:
    """What the coverage letter shows: the request, the member, the patient, dates and MESE's contact."""
    return {
        "request": request,
        "member": request.member,
        "beneficiary": request.beneficiary,
        "issued_on": issued_on,
        "valid_until": request.start_on + timedelta(days=COVERAGE_LETTER_VALID_DAYS),
        "contact": MESE_CONTACT,
    }


def render_coverage_letter(session: Session, request_id: int) -> bytes:
    """The "Prise en charge hospitalière" letter of request ``request_id`` for the admission service, as PDF."""
    request = session.get(HospitalCoverageRequest, request_id)
    if request is None:
        raise LookupError(f"no hospital coverage request {request_id}")
    context = coverage_letter_context(request, issued_on=local_today(utcnow()))
    return render_pdf("pdf/coverage_letter.html", context)


#: The PDF template of each document of cover (models.contracts.cover.CoverDocument values).
COVER_TEMPLATES = {"carte": "pdf/cover_card.html", "attestation": "pdf/cover_certificate.html"}


def render_cover_document(context: dict[str, Any]) -> bytes:
    """The tiers-payant card or the certificate of cover as PDF, from ``cover_document_context`` (in French)."""
    return render_pdf(COVER_TEMPLATES[context["document"].value], {**context, "contact": MESE_CONTACT})
