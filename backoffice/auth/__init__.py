"""Staff sign-in: e-mail and password, then a TOTP code; idle timeout and password expiry."""
