"""SVG icons and other files the tray loads through importlib.resources."""
