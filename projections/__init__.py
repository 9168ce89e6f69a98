"""Read models rebuilt from the event log (case status, deadline breaches, committee statistics)."""
