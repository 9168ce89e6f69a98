"""Infrastructure: persistence configuration, policy files and the sample-ledger generator."""
