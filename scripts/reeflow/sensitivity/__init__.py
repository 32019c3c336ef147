"""Sensitivity: Monte Carlo, one-at-a-time and Sobol analysis over every uncertain choice."""
