"""Server-rendered pages of the compliance app, one module per area."""
