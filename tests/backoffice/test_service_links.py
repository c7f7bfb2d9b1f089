"""Liens des services: managers keep the addresses and texts of "Services et outils"; only web addresses."""

from __future__ import annotations

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.content.entities import ServiceLink
from models.content.services import seed_service_links, service_links

from .support import csrf_from

URL = "/liens-services/"


def _edit(client, row_id: int, data: dict):
    path = f"{URL}edit/?id={row_id}"
    return client.post(path, data={**data, "csrf_token": csrf_from(client, path)})


def test_a_manager_changes_a_link_and_the_member_pages_follow(session, as_staff, manager):
    seed_service_links(session)
    session.commit()
    row = session.scalar(select(ServiceLink).where(ServiceLink.key == "prevention_webinars"))
    client = as_staff(manager)
    assert "Prévention santé : webinaires" in client.get(URL).get_data(as_text=True)
    response = _edit(client, row.id, {"key": "prevention_webinars", "label": "Nos webinaires",
                                      "url": "https://webinaires.mese.example/agenda", "description": "Agenda."})
    assert response.status_code == 302
    session.expire_all()
    link = service_links(session)["prevention_webinars"]
    assert (link.label, link.url, link.description) == ("Nos webinaires", "https://webinaires.mese.example/agenda",
                                                        "Agenda.")
    assert session.scalar(select(AuditEvent).where(AuditEvent.subject_type == "ServiceLink")) is not None


def test_only_web_addresses_are_accepted(session, as_staff, manager):
    seed_service_links(session)
    session.commit()
    row = session.scalar(select(ServiceLink).where(ServiceLink.key == "kalixia_optician"))
    client = as_staff(manager)
    for bad in ("javascript:alert(1)", "ftp://kalixia.example/", "www.kalixia.com", ""):
        response = _edit(client, row.id, {"key": "kalixia_optician", "label": "Trouver un opticien", "url": bad})
        assert response.status_code == 200, bad
        session.expire_all()
        assert session.get(ServiceLink, row.id).url == "https://www.kalixia.com/", bad


def test_a_second_row_for_the_same_link_is_refused(session, as_staff, manager):
    seed_service_links(session)
    session.commit()
    client = as_staff(manager)
    response = client.post(URL + "new/", data={"key": "teleconsultation", "label": "Doublon",
                                               "url": "https://example.org/",
                                               "csrf_token": csrf_from(client, URL + "new/")})
    assert response.status_code == 200 and "Ce lien existe déjà" in response.get_data(as_text=True)
    assert len(session.scalars(select(ServiceLink).where(ServiceLink.key == "teleconsultation")).all()) == 1


def test_agents_cannot_edit_service_links(as_staff, agent):
    assert as_staff(agent).get(URL).status_code == 403
