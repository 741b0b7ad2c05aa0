"""`profitringer demo`: relay, local Zoom and tray together on loopback."""
