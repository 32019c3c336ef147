# report: rules added by the report step.
