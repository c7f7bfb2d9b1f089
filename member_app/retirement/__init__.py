"""Futur(e) retraité(e): documents for members of the collective contract who retire soon."""
