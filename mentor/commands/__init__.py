"""Command groups. Each module parses options and delegates; heavy imports stay inside functions."""
