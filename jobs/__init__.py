"""Background jobs: everything that talks to the outside world leaves through the outbox.

In Redis mode the worker relays the outbox to RQ (jobs.relay, jobs.worker); in embedded mode
(no REDIS_URL) messages are delivered in-process right after the commit that queued them.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models.config import ModelsConfig
from models.outbox.operations import NEW_MESSAGES_KEY

from .config import JobsConfig

log = logging.getLogger(__name__)
#: Embedded-mode settings per database URL: the latest app configured for that database wins.
_embedded: dict[str, tuple[JobsConfig, ModelsConfig]] = {}
_listening: list[bool] = []


def _url_key(url) -> str:
    return make_url(url).render_as_string(hide_password=False)


def install_after_commit_delivery(jobs_config: JobsConfig, models_config: ModelsConfig) -> None:
    """In embedded mode, deliver queued messages in-process right after each commit; in Redis mode, do nothing.

    The listener is process-wide (SQLAlchemy's Session class) and installed once; it looks up the
    settings by the committing session's database, so apps built later with other settings are honoured,
    and an app built in Redis mode for a database turns the in-process delivery off for it.
    """
    key = _url_key(models_config.database_url)
    if not jobs_config.embedded:
        _embedded.pop(key, None)
        return
    _embedded[key] = (jobs_config, models_config)
    if not _listening:
        event.listen(Session, "after_commit", _deliver_after_commit)
        _listening.append(True)


def _deliver_after_commit(session: Session) -> None:
    if not session.info.pop(NEW_MESSAGES_KEY, False) or not _embedded:
        return
    try:
        configs = _embedded.get(_url_key(session.get_bind().url))
    except Exception:  # a session bound to several databases: not one of ours
        return
    if configs is None:
        return
    from .deliver import deliver_due_inline

    try:
        deliver_due_inline(*configs)
    except Exception:
        # The web request already committed; a failure here is recorded on the row or retried later.
        log.exception("in-process delivery after commit failed")
