"""Changement de coordonnées bancaires: the form, then the code that confirms it before it is sent."""
