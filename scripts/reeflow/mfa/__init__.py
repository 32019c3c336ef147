"""MFA: per-year balance by country and stage, coverage, origin tracing, indicators, end uses and
in-use stocks."""
