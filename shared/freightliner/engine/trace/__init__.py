"""`freightliner trace`: one timeline from the state table and the logs."""
