"""Test helpers that sign people in without walking the whole sign-in journey."""

from __future__ import annotations

from models.members.entities import Member
from models.staff.entities import StaffUser


def login_member(client, member: Member) -> None:
    """Put ``member`` in the client's session as fully signed in (password, second factor, terms done)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = member.session_token
        sess["_fresh"] = True
        sess["auth_complete"] = True


def login_staff(client, staff: StaffUser) -> None:
    """Put ``staff`` in the back-office client's session as fully signed in (password and TOTP done)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = staff.session_token
        sess["_fresh"] = True
        sess["auth_complete"] = True
