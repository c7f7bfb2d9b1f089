"""Background jobs: everything that talks to the outside world leaves through the outbox.

(First cut: the after-commit delivery hook is installed by jobs.relay once it lands.)
"""

from __future__ import annotations

from models.config import ModelsConfig

from .config import JobsConfig


def install_after_commit_delivery(jobs_config: JobsConfig, models_config: ModelsConfig) -> None:
    """In embedded mode, deliver queued messages in-process right after each commit."""
