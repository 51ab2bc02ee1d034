"""The MLflow store, with no Ray: trial runs and their identity, summary runs, the best
policy, the Pareto front. Sweep and report both stand on it."""

import os

# What rayprune downloads is a few small files; MLflow's progress bar on stderr would only bury
# the command's own lines (setting the variable turns it back on).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
