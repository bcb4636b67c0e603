"""Pytest plugins, one per concern, registered by tests/conftest.py (`pytest_plugins`)."""
