"""The home page of the member area: menu, news banner, procedures in direct access."""
