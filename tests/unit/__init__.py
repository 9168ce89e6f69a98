"""Unit tests: the domain in memory, no database."""
