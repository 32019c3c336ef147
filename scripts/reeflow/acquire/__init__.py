"""Acquire: one module per source (Comtrade, tariff lines, BACI, USGS via files or ScienceBase), each
fetching into the raw cache with provenance and parsing raw files into records (``raw``)."""
