"""Mes informations personnelles: address, e-mail and mobile of the member."""
