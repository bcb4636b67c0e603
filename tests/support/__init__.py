"""Helpers that test modules import (never from conftest): paths, waiting, MQTT gateways, the map page."""
