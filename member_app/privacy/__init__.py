"""Consultations de mon dossier: when MESE staff looked at the member's file, by which role and why."""
