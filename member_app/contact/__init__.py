"""Contacter la mutuelle."""
