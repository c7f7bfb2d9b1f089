"""Member 360: the member search (every role) and one member's whole file (managers and admins), a number shown
in full for a stated reason, a sign-in lock lifted; every search, opening and unmasking audited."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, request
from flask_admin import expose
from wtforms import Form, SelectField, StringField, TextAreaField

from models.base import utcnow
from models.errors import ValidationFailed
from models.members import member360
from web import client_ip

from ..extensions import db
from .base import StaffBaseView, current_staff, primary_key
from .outbox import CHANNEL_LABELS, STATUS_LABELS

#: The queue list of each type of request (its search takes a member number), for the links of a search row.
QUEUE_LINKS = [("hospital_coverage", "Prises en charge"), ("documents_queue", "Documents"),
               ("contact_queue", "Messages"), ("bank_details_queue", "Coordonnées bancaires"),
               ("teletransmission_queue", "Télétransmission")]
QUEUE_OF_KIND = {"hospital_coverage": "hospital_coverage", "document": "documents_queue", "contact": "contact_queue",
                 "bank_details": "bank_details_queue", "teletransmission": "teletransmission_queue"}
REQUEST_STATUS_LABELS = {"new": "Nouvelle", "in_progress": "En cours", "waiting_member": "En attente de l'adhérent",
                         "done": "Traitée", "rejected": "Refusée"}


class MemberSearchForm(Form):
    """Search by number, by name and birth date, or by NIR (one key is enough)."""

    number = StringField("N° d'adhérent", render_kw={"maxlength": 20, "autocomplete": "off"})
    last_name = StringField("Nom", render_kw={"maxlength": 100, "autocomplete": "off"})
    birth_date = StringField("Date de naissance", render_kw={"maxlength": 10, "placeholder": "JJ/MM/AAAA",
                                                             "autocomplete": "off"})
    nir = StringField("NIR", render_kw={"maxlength": 21, "autocomplete": "off"})


class UnmaskForm(Form):
    """Which number to show in full, and why (the reason is kept in the audit trail and shown to the member)."""

    target = SelectField("Numéro à afficher en clair", choices=[], validate_choice=False)
    reason = TextAreaField("Motif", render_kw={"rows": 2, "maxlength": member360.REASON_MAX})


def _show_errors(form: Form, errors: dict[str, list[str]]) -> None:
    for name, messages in errors.items():
        getattr(form, name).errors = list(messages)


class MemberSearchView(StaffBaseView):
    """Rechercher un adhérent (every role: agents look members up to work the queues)."""

    allowed_roles = member360.SEARCH_ROLES

    @expose("/")
    def index(self):
        """The search form and, once a key is typed, the members found (audited: who, which key, how many)."""
        form = MemberSearchForm(request.args)
        rows, search, status = None, None, 200
        try:
            search = member360.parse_search(number=form.number.data, last_name=form.last_name.data,
                                            birth_date=form.birth_date.data, nir=form.nir.data)
        except ValidationFailed as exc:
            _show_errors(form, exc.errors)
            status = 400
        if search is not None:
            rows = member360.search_members(db.session, search)
            member360.record_search(db.session, search, len(rows), staff=current_staff(), ip=client_ip(), now=utcnow())
        form.nir.data = ""  # a NIR typed is never sent back to the browser
        page = self.render("backoffice/member360/search.html", form=form, rows=rows, search=search,
                           may_open=current_staff().role in member360.FILE_ROLES, queue_links=QUEUE_LINKS)
        # Committed once the page is rendered: a commit expires the rows, which would then be read again whole.
        db.session.commit()
        return page, status


class Member360View(StaffBaseView):
    """Fiche adhérent 360 (managers and admins): reached from the search, not from the menu."""

    allowed_roles = member360.FILE_ROLES

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        """The files the staff member opened lately (a file itself is reached from a search row)."""
        recent = member360.recent_files(db.session, current_staff())
        page = self.render("backoffice/member360/recent.html", recent=recent)
        db.session.commit()
        return page

    def _file(self, member_id: int):
        member = member360.find_member_for_file(db.session, member_id) if primary_key(member_id) else None
        if member is None:
            abort(404)
        return member360.member_file(db.session, member)

    def _page(self, found, *, form: UnmaskForm | None = None, unmasked=None, status: int = 200):
        form = form or UnmaskForm()
        form.target.choices = found.unmask_choices
        response = make_response(self.render(
            "backoffice/member360/member.html", file=found, member=found.member, form=form, unmasked=unmasked,
            sign_in_label=member360.sign_in_label, channel_labels=CHANNEL_LABELS, outbox_labels=STATUS_LABELS,
            request_labels=REQUEST_STATUS_LABELS, queue_of_kind=QUEUE_OF_KIND), status)
        # A number shown in full is for this one response: never kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    @expose("/<int:member_id>/", methods=("GET", "POST"))
    def member(self, member_id: int):
        """The file (GET, audited as an opening); POST shows one number in full for a reason, in this answer only."""
        found = self._file(member_id)
        if request.method == "GET":
            member360.record_opening(db.session, found.member, staff=current_staff(), ip=client_ip(), now=utcnow())
            db.session.commit()
            return self._page(found)
        form = UnmaskForm(request.form)
        try:
            shown = member360.unmask(db.session, found, target=form.target.data or "", reason=form.reason.data or "",
                                     staff=current_staff(), ip=client_ip(), now=utcnow())
        except ValidationFailed as exc:
            db.session.rollback()
            _show_errors(form, exc.errors)
            return self._page(found, form=form, status=400)
        db.session.commit()
        return self._page(found, form=UnmaskForm(), unmasked=shown)

    @expose("/<int:member_id>/debloquer/", methods=("POST",))
    def unlock(self, member_id: int):
        """Lift the member's sign-in lock and delays (audited), then back to the file."""
        member = member360.find_member_for_file(db.session, member_id, for_update=True) \
            if primary_key(member_id) else None
        if member is None:
            abort(404)
        if member360.unlock_member(db.session, member, staff=current_staff(), ip=client_ip(), now=utcnow()):
            flash("Le compte est débloqué : l'adhérent peut de nouveau se connecter.", "success")
        else:
            flash("Ce compte n'était pas bloqué.", "info")
        db.session.commit()
        return redirect(self.get_url(".member", member_id=member.id), code=303)
