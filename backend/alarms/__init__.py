"""Alarms: their lifecycle (raise, move, clear, acknowledge, close) in one place."""
