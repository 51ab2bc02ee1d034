"""Every error a user can fix, in one family at the bottom of the house.

The CLI catches RaypruneError and prints its first line (exit code 2); anything else is a bug
and keeps its traceback. Each class also derives from the builtin it stands for, so callers
that catch ValueError or LookupError keep working.
"""


class RaypruneError(Exception):
    """Anything the user can fix; the message is one line."""


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none: how an error
    from anywhere (ours, the OS, a library, the user's simulator) is said in one line."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class CommandError(RaypruneError):
    """A command cannot do what was asked (the CLI's own checks)."""


class AlreadyExists(RaypruneError, FileExistsError):
    """A sweep, run, folder or file that rayprune will not overwrite."""


class ConfigError(RaypruneError, ValueError):
    """A sweep configuration that cannot run."""


class SpecError(ConfigError):
    """A pruning spec (method, lambda, schedule, reading, ...) that cannot run. `field` names
    the spec's field at fault, so the config can name its own key for it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ArtifactError(RaypruneError, ValueError):
    """A compact_policy folder that is missing, incomplete or corrupt."""


class UnsupportedEnvError(RaypruneError, ValueError):
    """An environment rayprune cannot build or whose spaces it cannot serve."""


class CompilerMissing(RaypruneError, RuntimeError):
    """A compiler or tool a C policy build needs is not installed."""


class ToolError(RaypruneError, RuntimeError):
    """A compiler rejected the C (a warning counts: -Werror), or a program it built failed."""


class SweepError(RaypruneError, RuntimeError):
    """A sweep cannot be started or resumed as asked."""


class TrialDiverged(RaypruneError, ArithmeticError):
    """A trial's loss or regularizer went NaN or infinite: it ends FAILED, never FINISHED."""


class ClusterError(RaypruneError, RuntimeError):
    """The cluster a sweep would use cannot work: fix before starting."""


class NotFound(RaypruneError, LookupError):
    """A sweep, experiment or run that is not there."""


class SweepNotFound(NotFound):
    pass


class ExperimentNotFound(NotFound):
    pass


class NoEligibleRun(NotFound):
    """No finished run qualifies (for `best`, or for a report)."""


class TrackingUnavailable(RaypruneError, ConnectionError):
    """The MLflow tracking server does not answer."""


class Stopped(RaypruneError, InterruptedError):
    """A command stopped by a signal (SIGTERM, SIGHUP): the CLI prints it as one line and exits
    128 + the signal's number, as a shell reports a process the signal ended."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
