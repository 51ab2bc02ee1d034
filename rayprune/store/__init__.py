"""The MLflow store, with no Ray: trial runs and their identity, summary runs, the best
policy, the Pareto front. Sweep and report both stand on it."""
