"""Ma carte Mutuelle and Attestation: the card and the certificate of a contract on screen, their PDF, and the
form that e-mails them (the "three dots" menu: Télécharger / Envoyer par e-mail)."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from jobs.pdf import render_cover_document
from models.base import utcnow
from models.contracts.cover import (
    DAILY_SEND_LIMIT, CoverDocument, active_contracts, active_covers, active_covers_reads, cover_document_context,
    cover_document_filename, covered_people, member_contract, send_cover_document,
)
from models.formats import date_fr, mask_email
from models.requests.deadlines import local_today
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts
from ..forms import optional_id, send_form
from ..i18n import translate
from ..layout import fill, fill_lines, part
from .forms import SendForm

bp = Blueprint("card", __name__)
#: Downloads are files, never pages: nothing in them may run or load.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"
TEMPLATES = {CoverDocument.CARD: "member/card/card.html", CoverDocument.CERTIFICATE: "member/card/certificate.html"}


def _person_id() -> int | None:
    """The ``beneficiaire`` of a certificate's address: None when absent; a malformed value answers 404."""
    raw = request.args.get("beneficiaire")
    if raw is None or raw == "":
        return None
    value = optional_id(raw)
    if value is None or value < 0:
        abort(404)
    return value


def _load(document: CoverDocument, contract_id: int | None, person_id: int | None = None, *, plain: bool = False):
    """The member's contracts in force and the context of the document; 404 for anything not theirs (``plain``:
    the contracts as plain rows, for the pages, with the NIR only where shown; the PDF and the e-mail take the
    contract itself)."""
    today = local_today(utcnow())
    if plain:
        contracts = active_covers(db.session, current_user, today, nir=document is CoverDocument.CARD)
    else:
        contracts = active_contracts(db.session, current_user, today)
    contract = member_contract(contracts, contract_id)
    if contract is None:
        if contract_id is None:
            return contracts, None
        abort(404)
    context = cover_document_context(current_user, contract, document, today, person_id)
    if context is None:
        abort(404)
    return contracts, context


def _page(document: CoverDocument, contract_id: int | None):
    person_id = _person_id() if document is CoverDocument.CERTIFICATE else None
    contracts, context = _load(document, contract_id, person_id, plain=True)
    if context is None:
        return render_template(TEMPLATES[document], cover=None)
    return render_template(TEMPLATES[document], cover=context, document=_document(contracts, context, person_id))


# The page's document is its part (drawn once per language, member_app.layout) filled with the contract's and the
# people's values: text values escaped by Markup's %, the lines and choices written from their own parts.

def _document(contracts, context: dict, person_id: int | None) -> Markup:
    """The card or the certificate on screen."""
    contract, member = context["contract"], context["member"]
    certificate = context["document"] is CoverDocument.CERTIFICATE
    endpoint = "card.certificate" if certificate else "card.card"
    values = {"contract_id": contract.id, "rows": _rows(context), "choice": _choice(contracts, contract, endpoint)}
    if certificate:
        values.update(person_id=person_id or "", people_choice=_people_choice(context, person_id),
                      day=date_fr(context["issued_on"]), number=contract.number, product=contract.product,
                      member=member.full_name, member_number=member.number)
        return part("member/card/_certificate.html", one_person=bool(person_id)) % values
    values.update(year=context["valid_from"].year, amc_number=context["amc_number"], member_name=member.full_name,
                  member_number=member.number, contract_number=contract.number, product=contract.product,
                  valid_from=date_fr(context["valid_from"]), valid_until=date_fr(context["valid_until"]),
                  tiers_payant=" · ".join(context["tiers_payant"]))
    return part("member/card/_card.html") % values


def _choice(contracts, current, endpoint: str) -> Markup:
    """Links to each contract in force when the member has several (none otherwise)."""
    if len(contracts) < 2:
        return Markup("")
    items = Markup("\n    ").join(
        fill(part("member/card/_choice.html", endpoint=endpoint, current=c.id == current.id),
             {"id": c.id, "number": c.number, "product": c.product}) for c in contracts)
    return part("member/card/_choice_nav.html") % {"items": items}


def _people_choice(context: dict, person_id: int | None) -> Markup:
    """Links to the certificate of the whole family and of each person, when the contract covers several."""
    everyone = covered_people(context["contract"], context["issued_on"])
    if len(everyone) < 2:
        return Markup("")
    contract_id = context["contract"].id
    items = Markup("\n    ").join(
        fill(part("member/card/_person_choice.html", current=person_id == p.beneficiary.id),
             {"contract_id": contract_id, "id": p.beneficiary.id, "full_name": p.beneficiary.full_name})
        for p in everyone)
    return part("member/card/_people_choice.html", everyone=not person_id) % {"contract_id": contract_id,
                                                                             "items": items}


def _rows(context: dict) -> Markup:
    """The lines of the table of people: the line's part filled with each person's values (escaped)."""
    certificate = context["document"] is CoverDocument.CERTIFICATE
    lines = []
    for person in context["people"]:
        b = person.beneficiary
        if certificate:
            last = date_fr(person.start_on) + (" – " + date_fr(person.end_on) if person.end_on else "")
        else:
            last = b.masked_nir or "–"
        lines.append({"full_name": b.full_name, "birth_date": date_fr(b.birth_date),
                      "role": translate(person.role_label), "last": last})
    return fill_lines(part("member/card/_person_row.html"), lines)


@bp.get("/ma-carte-mutuelle", defaults={"contract_id": None})
@bp.get("/ma-carte-mutuelle/<int:contract_id>")
@login_required
@reads_ahead(lambda now, contract_id: active_covers_reads(local_today(now), nir=True))
def card(contract_id: int | None):
    """Ma carte Mutuelle: the tiers-payant card of a contract in force (the first one by default)."""
    return _page(CoverDocument.CARD, contract_id)


@bp.get("/attestation", defaults={"contract_id": None})
@bp.get("/attestation/<int:contract_id>")
@login_required
@reads_ahead(lambda now, contract_id: active_covers_reads(local_today(now), nir=False))
def certificate(contract_id: int | None):
    """Attestation: the certificate of cover of a contract, for all its people or one (``?beneficiaire=``)."""
    return _page(CoverDocument.CERTIFICATE, contract_id)


def _pdf(document: CoverDocument, contract_id: int):
    person_id = _person_id() if document is CoverDocument.CERTIFICATE else None
    context = _load(document, contract_id, person_id)[1]
    data = render_cover_document(context)
    name = cover_document_filename(document, context["contract"], context["issued_on"])
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name,
                         max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ma-carte-mutuelle/<int:contract_id>/pdf")
@login_required
def card_pdf(contract_id: int):
    """"Télécharger": the card as PDF."""
    return _pdf(CoverDocument.CARD, contract_id)


@bp.get("/attestation/<int:contract_id>/pdf")
@login_required
def certificate_pdf(contract_id: int):
    """"Télécharger": the certificate as PDF."""
    return _pdf(CoverDocument.CERTIFICATE, contract_id)


@bp.route("/envoyer/<any(carte, attestation):document>/<int:contract_id>", methods=["GET", "POST"])
@login_required
@limit_posts("30 per hour")
def send(document: str, contract_id: int):
    """"Envoyer par e-mail": the card or the certificate to a health professional, a spouse or a child."""
    kind = CoverDocument(document)
    person_id = _person_id() if kind is CoverDocument.CERTIFICATE else None
    context = _load(kind, contract_id, person_id)[1]
    form = SendForm()
    if form.is_submitted():
        form.validate()  # CSRF only: every rule is checked by the model
        message, refusal = send_form(form, lambda: send_cover_document(
            db.session, current_user, context["contract"], document=kind, to=form.email.data,
            beneficiary_id=person_id, ip=client_ip(), now=utcnow(), today=context["issued_on"]), fallback="email")
        if refusal is None:
            what = _("Votre carte Mutuelle") if kind is CoverDocument.CARD else _("Votre attestation")
            flash(_("%(what)s a bien été envoyée à %(to)s.", what=what, to=mask_email(message.recipient)),
                  "success")
            endpoint = "card.card" if kind is CoverDocument.CARD else "card.certificate"
            args = {"beneficiaire": person_id} if person_id else {}
            return redirect(url_for(endpoint, contract_id=contract_id, **args), code=303)
    return render_template("member/card/send.html", form=form, cover=context, person_id=person_id,
                           limit=DAILY_SEND_LIMIT)
