"""Mes demandes: every request of the family, its follow-up, the messages exchanged, the member's answer."""
