"""Activer la télétransmission, per beneficiary (from the contract page)."""
