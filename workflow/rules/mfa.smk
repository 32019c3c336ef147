# mfa: rules added by the mfa step.
