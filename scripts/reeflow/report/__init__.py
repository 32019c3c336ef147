"""Report: figures (matplotlib/seaborn), the Sankey layout and the tables and provenance of the report."""
