# figures: rules added by the figures step.
