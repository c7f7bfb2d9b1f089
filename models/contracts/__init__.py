"""Contracts, the people they cover and when, bank accounts, contributions and reimbursements."""
