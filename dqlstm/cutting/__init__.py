"""Circuit cutting engines (cut-exact, sampled) and the CutEstimator facade."""
