"""reeflow: a dynamic material flow analysis of rare earth elements, from mines to products.

The science lives in the modules of this package, each importable and tested without Snakemake;
the rule scripts in ``scripts/`` only read ``snakemake.input/params`` and call them.
"""

__version__ = "0.1.0"
