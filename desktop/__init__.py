"""ProfitRinger Desktop: the tray companion, the relay and the local Zoom."""

__version__ = "0.1.0"
