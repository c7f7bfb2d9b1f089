"""Member sign-in: login, second factor, activation, password reset and change, terms of use."""
