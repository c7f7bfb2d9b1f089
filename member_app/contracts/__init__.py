"""Mes contrats: contracts, family, contributions and bank details."""
