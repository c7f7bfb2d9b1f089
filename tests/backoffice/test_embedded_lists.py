"""The back office's lists on the embedded SQLite database (``make run``): every list answers with its rows, for an
agent (whose "all statuses" list is read in parts) and a manager, from the statements SQLite takes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import select, update

from backoffice import create_app
from models.base import utcnow
from models.db import session_factory
from models.demo import load_demo
from models.members.entities import Member
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from models.requests.workflow import start_request
from models.schema import upgrade
from models.staff.entities import StaffRole, StaffUser
from tests.helpers import login_staff

from .support import MountedClient

LISTS = ("/prises-en-charge/", "/prises-en-charge/?flt0_0=all", "/prises-en-charge/?flt0_0=done",
         "/depots-documents/?flt0_0=all", "/messages/?flt0_0=all", "/coordonnees-bancaires/?flt0_0=all",
         "/teletransmission/?flt0_0=all", "/envois/", "/journal/")


def test_every_list_answers_on_the_embedded_database_for_an_agent_and_a_manager(tmp_path, backoffice_config,
                                                                                 models_config, as_staff, agent,
                                                                                 coverage_request):
    # The same agent's list read first on PostgreSQL, in the same process: its plan, kept, must give SQLite its
    # own SQL (models.db.DriverRead compiles per dialect).
    coverage_request()
    assert as_staff(agent).get("/prises-en-charge/?flt0_0=all").status_code == 200
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    config = replace(backoffice_config, models=replace(models_config, database_url=url))
    app = create_app(config)
    app.test_client_class = MountedClient  # the session cookie belongs to /backoffice
    with session_factory(config.models)() as embedded:
        load_demo(embedded)
        staff = {user.role: user
                 for user in embedded.scalars(select(StaffUser).where(StaffUser.email.like("%@mese.fr")))}
        embedded.execute(update(StaffUser).where(StaffUser.id == staff[StaffRole.AGENT].id).values(id=agent.id))
        embedded.commit()
        embedded.expire_all()
        staff[StaffRole.AGENT] = agent = embedded.get(StaffUser, agent.id)
        lea = embedded.scalar(select(Member).where(Member.number == "4400000"))
        made = []
        for name in ("Clinique des Cèdres", "Hôpital Nord"):
            made.append(HospitalCoverageRequest(member_id=lea.id, beneficiary_id=lea.beneficiaries[0].id,
                                                establishment_name=name, start_on=date.today() + timedelta(days=7),
                                                admission_fax="0476000001"))
            start_request(embedded, made[-1], now=utcnow())
        closed = made[0]
        closed.status, closed.assigned_to_id = RequestStatus.DONE, agent.id  # one the agent handled: another part
        embedded.commit()
        clients = {}
        for role in (StaffRole.AGENT, StaffRole.MANAGER):
            clients[role] = app.test_client()
            login_staff(clients[role], staff[role])
        reference = closed.reference
    for role, client in clients.items():
        for path in LISTS if role is StaffRole.MANAGER else LISTS[:3]:
            response = client.get(path)
            assert response.status_code == 200, (role, path, response.headers.get("Location"))
            assert "<tbody" in response.get_data(as_text=True), (role, path)
    mine = clients[StaffRole.AGENT].get("/prises-en-charge/?flt0_0=all").get_data(as_text=True)
    assert reference in mine and len(re.findall(r'name="rowid"', mine)) > 1  # the open ones and the one handled
