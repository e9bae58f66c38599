"""What the registry and the charge attempts tell: coverage, compatibility, reliability."""
