"""The PDF renderer: French text with embedded DejaVu fonts, escaped member data, no resource from outside static/."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from pypdf import PdfReader

from jobs.pdf import PdfRenderError, html_to_pdf, render_coverage_letter
from tests.factories import make_member

from .conftest import submit_request

FONTS = '<style>@font-face { font-family: DejaVu; src: url("/static/fonts/DejaVuSans.ttf"); } ' \
        'body { font-family: DejaVu; }</style>'


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _fonts(pdf: bytes) -> set[str]:
    return {str(font.get_object()["/BaseFont"]) for page in PdfReader(io.BytesIO(pdf)).pages
            for font in page["/Resources"]["/Font"].values()}


@pytest.fixture
def web_server():
    """A local HTTP server that counts the requests it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


def test_french_text_renders_with_the_embedded_dejavu_font():
    pdf = html_to_pdf(f"<html><head>{FONTS}</head><body><p>Zoé Lefèvre, à Besançon : œuvre 12,50 € « ok »</p>"
                      "</body></html>")

    assert "Zoé Lefèvre, à Besançon : œuvre 12,50 € « ok »" in _text(pdf)
    assert any(name.endswith("+DejaVuSans") for name in _fonts(pdf))


def test_the_coverage_letter_names_the_patient_the_establishment_and_what_is_covered(session):
    member = make_member(session)
    request = submit_request(session, member, establishment="Clinique « Les Cèdres » – Saint-Étienne")

    text = _text(render_coverage_letter(session, request.id))

    assert "Prise en charge hospitalière" in text and request.reference in text
    for expected in ("Zoé RIMON", "03/09/2012", member.number, "Clinique « Les Cèdres » – Saint-Étienne",
                     request.start_on.strftime("%d/%m/%Y"), "Frais de séjour", "Forfait journalier",
                     "Dépassements d'honoraires", "Télévision, téléphone", "04 76 60 56 36",
                     "fr-contact@mese.se.com", "Le service adhérents MESE"):
        assert expected in text
    assert member.nir not in text.replace(" ", "")


@pytest.mark.parametrize("tag", [
    '<img src="/etc/passwd">',
    '<img src="file:///etc/hostname">',
    '<img src="/static/../../../etc/passwd">',
    '<link rel="stylesheet" href="/etc/ssl/openssl.cnf">',
])
def test_local_files_outside_static_are_refused(tag):
    with pytest.raises(PdfRenderError, match="resource refused"):
        html_to_pdf(f"<html><body>{tag}<p>x</p></body></html>")


def test_remote_resources_are_refused_without_being_fetched(web_server):
    base, hits = web_server

    with pytest.raises(PdfRenderError, match="resource refused"):
        html_to_pdf(f'<html><body><img src="{base}/pixel.png"><p>x</p></body></html>')

    assert hits == []


def test_member_data_is_printed_as_text_never_as_markup(session, web_server):
    base, hits = web_server
    member = make_member(session, last_name=f'<img src="{base}/x.png">')
    request = submit_request(session, member, establishment="Clinique <b>Test</b>")

    text = _text(render_coverage_letter(session, request.id))

    assert "Clinique <b>Test</b>" in text and f'src="{base}/x.png"'.upper() in text.replace("\n", "")
    assert hits == []
