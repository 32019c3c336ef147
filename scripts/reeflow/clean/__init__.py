"""Clean: raw records to the harmonised tables: declarations (countries, HS revisions, units),
mirror reconciliation, data-quality tables, and production by country, stage and edition."""
