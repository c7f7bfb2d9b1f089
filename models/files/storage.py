"""Local content-addressed file storage (one interface, object storage later)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from .entities import StoredFile

_root: dict[str, Path] = {}


def configure(files_dir: Path) -> None:
    """Set the folder where files are kept (created if missing)."""
    files_dir.mkdir(parents=True, exist_ok=True)
    _root["dir"] = files_dir


def _path_for(sha256: str) -> Path:
    if "dir" not in _root:
        from ..config import ModelsConfig
        configure(ModelsConfig.from_env().files_dir)
    return _root["dir"] / sha256[:2] / sha256[2:4] / sha256


def store_bytes(session: Session, data: bytes, *, filename: str, content_type: str,
                member_id: int | None = None, now: datetime | None = None) -> StoredFile:
    """Write ``data`` once per content (atomic rename) and add a row describing it.

    ``member_id`` names the member who sent the file (uploads), so that a file sent twice can be
    pointed out (``models.files.uploads.recent_duplicates``); ``now`` is the time of the use case.
    """
    digest = hashlib.sha256(data).hexdigest()
    path = _path_for(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    stored = StoredFile(sha256=digest, size=len(data), content_type=content_type, filename=filename,
                        member_id=member_id)
    if now is not None:
        stored.created_at = now
    session.add(stored)
    return stored


def read_bytes(stored: StoredFile) -> bytes:
    """Read a stored file back, checking its hash."""
    data = _path_for(stored.sha256).read_bytes()
    if hashlib.sha256(data).hexdigest() != stored.sha256:
        raise OSError(f"stored file {stored.id} is corrupted")
    return data


def export_path(name: str) -> Path:
    """Where the file of an export built by a job is kept (FILES_DIR/exports/<name>)."""
    if "dir" not in _root:
        from ..config import ModelsConfig
        configure(ModelsConfig.from_env().files_dir)
    if "/" in name or "\\" in name or name.startswith("."):
        raise ValueError("not a file name")
    folder = _root["dir"] / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
