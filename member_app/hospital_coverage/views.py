"""Hospital coverage pages (placeholder until the form lands)."""

from flask import Blueprint

bp = Blueprint("hospital_coverage", __name__)
