"""Documents contractuels and Documents d'informations."""
