"""Fixtures of the job tests: delivery settings bound to the test SMTP sink, Redis and file store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from jobs import runtime
from jobs.config import JobsConfig
from jobs.relay import RelayResult, delivery_queue, relay_once
from models.base import utcnow
from models.config import ModelsConfig
from models.requests.entities import HospitalCoverageRequest
from models.requests.hospital_coverage import (
    HospitalCoverageInput, approve_hospital_coverage, family_beneficiaries, submit_hospital_coverage,
)
from models.requests.operations import claim
from models.requests.workflow import local_today
from tests.factories import make_staff

ADMISSION_EMAIL = "admissions@clinique-des-cedres.example"
ADMISSION_FAX = "04 76 60 56 36"


@dataclass
class Delivery:
    """Drives the outbox like the worker does: relay passes and an RQ worker in burst mode."""

    jobs_config: JobsConfig
    models_config: ModelsConfig
    redis: Redis

    def relay(self, now: datetime | None = None) -> RelayResult:
        return relay_once(self.jobs_config, self.models_config, now=now)

    def work(self) -> None:
        queue = delivery_queue(self.jobs_config, self.redis)
        SimpleWorker([queue], connection=self.redis, serializer=JSONSerializer).work(burst=True)

    def run(self, now: datetime | None = None) -> RelayResult:
        result = self.relay(now)
        self.work()
        return result

    def queued_job_ids(self) -> list[str]:
        return delivery_queue(self.jobs_config, self.redis).get_job_ids()


@pytest.fixture
def delivery(jobs_config, models_config, migrated_database, redis_conn) -> Delivery:
    """The outbox driven through the test Redis, delivering to the SMTP sink and the fax gateway domain."""
    runtime.configure(jobs_config, models_config)
    return Delivery(jobs_config, models_config, redis_conn)


@pytest.fixture
def folder_config(jobs_config) -> JobsConfig:
    """Settings with no mail server and no SMS gateway: every channel writes to the outbox folder."""
    return replace(jobs_config, mail_server="", fax_gateway_domain="", sms_gateway_url="")


def submit_request(session, member, *, fax: str = ADMISSION_FAX, email: str = ADMISSION_EMAIL,
                   establishment: str = "Clinique des Cèdres", now: datetime | None = None) -> HospitalCoverageRequest:
    """A hospital coverage request of ``member`` for their child, committed (queues the acknowledgement)."""
    now = now or utcnow()
    child = family_beneficiaries(session, member)[-1]
    request = submit_hospital_coverage(session, member, HospitalCoverageInput(
        beneficiary_id=child.id, establishment_name=establishment, finess="",
        start_on=local_today(now) + timedelta(days=7), admission_fax=fax, admission_email=email,
    ), now=now)
    session.commit()
    return request


def approve_request(session, request: HospitalCoverageRequest, *, now: datetime | None = None) -> None:
    """An agent claims and approves ``request``, committed (queues fax, letter e-mail, member notice)."""
    now = now or utcnow()
    staff = make_staff(session)
    claim(session, request, staff=staff, now=now)
    approve_hospital_coverage(session, request, staff=staff, now=now)
    session.commit()
