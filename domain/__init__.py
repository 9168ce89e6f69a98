"""The complaints domain: aggregates, policy profiles and working-day arithmetic.

Knows nothing of SQL, click or files; everything here runs without a database.
"""
