"""The shared domain of MESE: entities and use cases, with no web framework inside.

Importing this package registers every entity on ``Base.metadata``.
"""

from .audit import entities as _audit  # noqa: F401
from .base import Base
from .content import entities as _content  # noqa: F401
from .contracts import entities as _contracts  # noqa: F401
from .files import entities as _files  # noqa: F401
from .members import entities as _members  # noqa: F401
from .outbox import entities as _outbox  # noqa: F401
from .reports import entities as _reports  # noqa: F401
from .requests import entities as _requests  # noqa: F401
from .sessions import entities as _sessions  # noqa: F401
from .staff import entities as _staff  # noqa: F401

__all__ = ["Base"]
