"""The names users see in MLflow: metrics, params and tags, each spelled once.

Metric names are what users' stores and dashboards already hold, so some differ from the
code's names: the metric `sparsity` is the code's neuron_sparsity, `sparsity_target_now` the
schedule's p_t (sparsity_now).
"""

# MLflow's charts put metrics named PREFIX/name in a section of their own: the per-iteration
# curves are logged as train/NAME, the final values without a prefix; readers go through
# canonical().
CURVE_PREFIX = "train/"


def curve(name: str) -> str:
    """The stored name of the per-iteration curve `name`."""
    return f"{CURVE_PREFIX}{name}"


def canonical(stored: str) -> str:
    """A stored metric name as the code names it: the curve prefix dropped."""
    return stored.removeprefix(CURVE_PREFIX)


# Per-iteration curve. Its MLflow step is the env steps sampled so far, what users read a curve
# against, so ENV_STEPS is no stored metric: a chart of it would plot it against itself.
EPISODE_RETURN_MEAN = "episode_return_mean"
ENV_STEPS = "env_steps"  # in every row Tune gets (its schedulers' time); MLflow's step

# Measured on the actor at the end of every training iteration (rllib's learner hook).
NEURONS = "neurons"
WEIGHTS = "weights"
FLOPS = "flops"
NEURON_SPARSITY = "sparsity"
WEIGHT_SPARSITY = "weight_sparsity"
NEURONS_DEAD = "neurons_dead"
SPARSITY_NOW = "sparsity_target_now"
THRESHOLD = "threshold"
REGULARIZER = "regularizer"
PRUNE_STEP = "prune_step"  # the schedule's step t (learner updates so far)
LAYER_NEURONS_PREFIX = "neurons_l"  # neurons_l0, neurons_l1, ...: kept per hidden layer


def layer_neurons(layer: int) -> str:
    """The metric of the neurons kept in hidden layer `layer` (0 = first)."""
    return f"{LAYER_NEURONS_PREFIX}{layer}"


# Final values, logged once at step 0: MLflow draws a metric that never passed step 0 as a bar
# (a value), not as one dot on a line chart.
EVAL_RETURN_MEAN = "eval_return_mean"
EVAL_RETURN_STD = "eval_return_std"
TARGET_REACHED = "target_reached"
WEIGHTS_COMPACT = "weights_compact"
NEURONS_COMPACT = "neurons_compact"
FLOPS_COMPACT = "flops_compact"
WEIGHTS_REMOVED = "weights_removed"  # fraction of the dense actor's weights the policy drops
# dense weights / compact weights (127 means 127x fewer)
COMPRESSION_RATIO = "compression_ratio"
# The shipped policy's size, comparable across methods.
FINAL_SIZE_METRICS = (
    WEIGHTS_COMPACT, NEURONS_COMPACT, FLOPS_COMPACT, WEIGHTS_REMOVED, COMPRESSION_RATIO,
)  # fmt: skip
FINAL_METRICS = (EVAL_RETURN_MEAN, EVAL_RETURN_STD, TARGET_REACHED, *FINAL_SIZE_METRICS)
# A finished trial's place in its sweep under `rayprune best`'s rule (1: the one it picks),
# logged when the sweep ends: the saved view sorts by it, so the two never disagree on ties.
RANK = "rank"

# The frontier search's judgement of a probe: (R - R_random) / (R_dense - R_random) over its seeds.
RETAINED_RETURN_MEAN = "retained_return_mean"
RETAINED_RETURN_STD = "retained_return_std"

# A trial's point, as MLflow params (YAML's grid keys).
METHOD = "method"
LAMBDA = "lambda"
SPARSITY_TARGET = "sparsity_target"
SEED = "seed"
POINT_PARAMS = (METHOD, LAMBDA, SPARSITY_TARGET, SEED)
# Sweep settings read back from a run's params.
ENV = "env"
SEARCH_KIND = "search.kind"
GATES = "pruning.gates"

# Tags.
TRIAL_KEY_TAG = "rayprune.trial_key"
SWEEP_TAG = "rayprune.sweep"
STOPPED_EARLY_TAG = "rayprune.stopped_early"
NODE_TAG = "rayprune.node_id"  # the Ray node that ran the trial's latest attempt
FAILURE_TAG = "rayprune.failure"  # why a trial's latest attempt failed, one line
INTERRUPTED_TAG = "rayprune.interrupted"  # the sweep was stopped (Ctrl-C, SIGTERM): resume it
RECOVERED_TAG = "rayprune.recovered"  # an unreadable checkpoint skipped, and what was done
STARTED_FROM_TAG = "rayprune.started_from"  # the trained trial a probe started from (init dense)
SUMMARY_TAG = "rayprune.summary"  # a sweep-level run (report, Pareto front), never a trial's
DESCRIPTION_TAG = "mlflow.note.content"  # MLflow's run description, shown on the run's page
# An experiment tag the MLflow UI (3.x) lists as a saved view of the runs page: PREFIX + view id.
SAVED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."

# The dense baseline: no penalty, nothing pruned.
DENSE_METHOD = "ppo"
