"""Drivers: they perform the core's commands and feed back events; they hold no rules."""
