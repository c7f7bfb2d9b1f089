"""Audit trail: who did what to which record, when and from where."""
