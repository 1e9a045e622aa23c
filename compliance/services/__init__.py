"""Every write the compliance app makes, one module per area; each service audits in its own transaction."""
