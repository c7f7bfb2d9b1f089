"""Prise en charge hospitalière: the member's form and the list of their requests."""
