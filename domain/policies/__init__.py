"""Policy profiles shipped with the ledger (TOML). Read by complaints_ledger.adapters.policy_files."""
