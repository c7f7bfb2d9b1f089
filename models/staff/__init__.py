"""Staff users of the back office and their roles."""
