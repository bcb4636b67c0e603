"""Test set-up: private services whatever the shell has configured, and the fixtures by concern.

Fixtures live in tests/plugins/ (services, web, browser, mqtt); helpers that test modules import
live in tests/support/. Nothing is imported from this file.
"""

from __future__ import annotations

import os

import pytest

# Helpers that assert (wait_until, open_map, GatewayClient) report like test code does.
pytest.register_assert_rewrite("tests.support")

from tests.support.paths import DATA_DIR  # noqa: E402

# Tests always run on their own private services, whatever the shell has configured. Set before
# the plugins import the platform, which reads its settings from the environment.
for var in (
    "RISKMAP_DATABASE_URL",
    "RISKMAP_MQTT_URL",
    "RISKMAP_REQUIRE_AUTH_FOR_READ",
    "RISKMAP_BASEMAP_URL",
):
    os.environ.pop(var, None)
os.environ["RISKMAP_DATA_DIR"] = str(DATA_DIR)
# Most tests run without an ingester; the ones about ingest health turn this back on.
os.environ["RISKMAP_INGEST_HEALTH_REQUIRED"] = "false"

pytest_plugins = [
    "tests.plugins.services",
    "tests.plugins.web",
    "tests.plugins.browser",
    "tests.plugins.mqtt",
]
