"""Process-level settings of the jobs layer: set once by the worker (or a test), read by job functions."""

from __future__ import annotations

import os

from models.config import ModelsConfig
from models.db import prepare
from models.files import storage

from .config import JobsConfig
from .tracking import DeliveryTracker, tracking_connection, worker_name

_current: dict[str, JobsConfig | ModelsConfig] = {}
_trackers: dict[tuple[str, str, int], DeliveryTracker] = {}


def configure(jobs_config: JobsConfig, models_config: ModelsConfig) -> None:
    """Make ``jobs_config`` and ``models_config`` the settings of jobs run by this process."""
    prepare(models_config)
    storage.configure(models_config.files_dir)
    _current["jobs"] = jobs_config
    _current["models"] = models_config


def current() -> tuple[JobsConfig, ModelsConfig]:
    """The settings jobs of this process use (read from the environment when nobody configured them)."""
    if not _current:
        configure(JobsConfig.from_env(), ModelsConfig.from_env())
    return _current["jobs"], _current["models"]  # type: ignore[return-value]


def tracker(jobs_config: JobsConfig | None = None) -> DeliveryTracker | None:
    """This process's tracker of deliveries in flight (heartbeat, kept receipts); None in embedded mode."""
    jobs_config = jobs_config or current()[0]
    if jobs_config.embedded:
        return None
    key = (jobs_config.redis_url, jobs_config.queue_name, os.getpid())
    found = _trackers.get(key)
    if found is None:
        found = DeliveryTracker(tracking_connection(jobs_config.redis_url), jobs_config.queue_name, worker_name())
        _trackers[key] = found
    return found


# A forked child has its own pid, so it builds its own tracker (and heartbeat thread); drop the parent's.
os.register_at_fork(after_in_child=_trackers.clear)
