"""Process-level settings of the jobs layer: set once by the worker (or a test), read by job functions."""

from __future__ import annotations

from models.config import ModelsConfig
from models.db import prepare
from models.files import storage

from .config import JobsConfig

_current: dict[str, JobsConfig | ModelsConfig] = {}


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
