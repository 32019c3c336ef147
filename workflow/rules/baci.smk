# baci: rules added by the baci step.
