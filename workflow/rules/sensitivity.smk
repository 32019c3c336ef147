# sensitivity: rules added by the sensitivity step.
