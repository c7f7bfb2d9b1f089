"""Mes remboursements."""
