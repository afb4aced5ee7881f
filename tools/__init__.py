"""Product tooling: what `make` runs besides the Pulumi CLI (none of it imports tests/)."""
