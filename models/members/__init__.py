"""Members: their account, identity, contact details and sign-in secrets."""
