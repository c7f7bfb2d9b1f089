"""Functional tests of the back office."""
