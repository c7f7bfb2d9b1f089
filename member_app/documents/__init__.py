"""Dépôt de documents: "Envoyez-nous vos documents et justificatifs"."""
