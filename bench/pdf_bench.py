"""Render time of the card and the certificate PDFs: fonts registered once (as shipped) against the former
``@font-face`` rules read on every render. Prints CPU milliseconds per render; asserts nothing.

    .venv/bin/python -m bench.pdf_bench [renders]

Both variants render the same HTML, interleaved render by render so that the load of the machine weighs on both
alike; CPU time (not wall time) is measured, the machine being shared.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from types import SimpleNamespace

import jobs.pdf as pdf
from models.contracts.cover import AMC_NUMBER, TIERS_PAYANT, CoverDocument
from models.contracts.entities import BeneficiaryRole
from models.outbox.operations import template_environment

#: What _base.html declared before the fonts were registered once per process (family renamed to keep both).
FONT_FACES = """
  @font-face { font-family: DejaVuFace; src: url("/static/fonts/DejaVuSans.ttf"); }
  @font-face { font-family: DejaVuFace; src: url("/static/fonts/DejaVuSans-Bold.ttf"); font-weight: bold; }
"""


def _context(document: CoverDocument) -> dict:
    def person(first_name, role, born, nir):
        beneficiary = SimpleNamespace(full_name=f"{first_name} RIMON", birth_date=born, masked_nir=nir)
        return SimpleNamespace(beneficiary=beneficiary, role_label=role.label, start_on=date(2018, 1, 1), end_on=None)

    return {
        "document": document, "member": SimpleNamespace(full_name="Léa RIMON", number="4400000"),
        "contract": SimpleNamespace(number="C40SOCLE", product="Socle", kind=SimpleNamespace(value="collective")),
        "people": [person("Léa", BeneficiaryRole.PRINCIPAL, date(1984, 1, 10), "284801XXXX1174"),
                   person("Samuel", BeneficiaryRole.SPOUSE, date(1982, 5, 14), "182053XXXX4957"),
                   person("Zoé", BeneficiaryRole.CHILD, date(2012, 9, 3), "")],
        "issued_on": date(2026, 12, 1), "valid_from": date(2026, 1, 1), "valid_until": date(2026, 12, 31),
        "amc_number": AMC_NUMBER, "tiers_payant": TIERS_PAYANT, "one_person": False, "contact": pdf.MESE_CONTACT,
    }


def main(renders: int = 40) -> None:
    """Print the median and 90th percentile CPU time of each document in both variants."""
    pdf.register_fonts()
    for document in CoverDocument:
        shipped = template_environment("fr").get_template(pdf.COVER_TEMPLATES[document.value]).render(
            **_context(document))
        former = shipped.replace("<style>", "<style>" + FONT_FACES, 1).replace(
            "font-family: DejaVu;", "font-family: DejaVuFace;")
        variants = {"@font-face per render": former, "fonts registered once": shipped}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for html in variants.values():
            pdf.html_to_pdf(html)
        for _ in range(renders):
            for name, html in variants.items():
                started = time.process_time()
                pdf.html_to_pdf(html)
                times[name].append((time.process_time() - started) * 1000)
        for name, values in times.items():
            values.sort()
            print(f"{document.value:12} {name:22} median {values[len(values) // 2]:5.1f} ms CPU, "
                  f"p90 {values[int(len(values) * 0.9)]:5.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
