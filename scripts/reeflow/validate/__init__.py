"""Validate: the model against independent statistics (USGS) and physical proxies."""
