"""Tests of the LLM layer (a package, so its conftest does not shadow tests/conftest.py as `conftest`)."""
