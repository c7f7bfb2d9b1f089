"""Outbox: every message to the outside world (e-mail, SMS, fax) is first a row, written with the change that causes it."""
