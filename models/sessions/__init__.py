"""Server-side sign-in sessions of members and staff: opened at sign-in, ended by sign-out, changes or admins."""
