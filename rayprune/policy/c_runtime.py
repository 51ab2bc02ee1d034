"""Build and run a generated C policy (rayprune.policy.c_export): a gcc shared library loaded
with ctypes (CPolicy), its Cortex-M4 flash size, an aarch64 build run under qemu, and a timing
loop in C for benchmarks.

Every build compiles with `-std=c99 -pedantic -Wall -Wextra -Werror`, so a warning in the
generated code is an error here. Builds go to a temporary folder. A CPolicy keeps its folder,
and its library file, until it is closed or collected: glibc's dlopen recognises an already
loaded library by device and inode, and a deleted library's inode can be reused by the next
build's file, which would then silently load the old weights.
"""

from __future__ import annotations

import _ctypes
import ctypes
import re
import shutil
import statistics
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rayprune.errors import ArtifactError, CompilerMissing, ToolError
from rayprune.policy.c_export import C_DIR, HEADER_FILE, SOURCE_FILE
from rayprune.policy.info import INFO_FILE, read_info
from rayprune.policy.spaces import ActionSpace, EnvSpaces

CFLAGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror")
CORTEX_M4_FLAGS = (
    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os",
    "-Wdouble-promotion",  # a double on the M4's single-precision FPU is a soft-float call
)  # fmt: skip
LIBRARY = "librayprune_policy.so"
TOOL_TIMEOUT_S = 300

# Loops over rows in C, so a batch costs one ctypes call.
BATCH_C = """\
#include "policy.h"

void rayprune_py_forward(const float *obs, float *out, long n)
{
    long i;
    for (i = 0; i < n; ++i) {
        rayprune_forward(obs + i * RAYPRUNE_OBS_DIM, out + i * RAYPRUNE_OUT_DIM);
    }
}

#if defined(RAYPRUNE_DISCRETE)
void rayprune_py_act(const float *obs, int *action, long n)
{
    long i;
    for (i = 0; i < n; ++i) {
        action[i] = rayprune_act_discrete(obs + i * RAYPRUNE_OBS_DIM);
    }
}
#elif defined(RAYPRUNE_MULTI_DISCRETE)
void rayprune_py_act(const float *obs, int *action, long n)
{
    long i;
    for (i = 0; i < n; ++i) {
        rayprune_act_multi_discrete(obs + i * RAYPRUNE_OBS_DIM, action + i * RAYPRUNE_ACT_DIM);
    }
}
#else
void rayprune_py_act(const float *obs, float *action, long n)
{
    long i;
    for (i = 0; i < n; ++i) {
        rayprune_act_box(obs + i * RAYPRUNE_OBS_DIM, action + i * RAYPRUNE_OUT_DIM);
    }
}
#endif
"""

# Reads float32 observations from argv[1], writes float32 outputs to argv[2].
FILE_IO_C = """\
#include <stdio.h>

#include "policy.h"

int main(int argc, char **argv)
{
    float obs[RAYPRUNE_OBS_DIM], out[RAYPRUNE_OUT_DIM];
    FILE *in, *result;
    int failed = 0;
    if (argc != 3) {
        return 2;
    }
    in = fopen(argv[1], "rb");
    result = fopen(argv[2], "wb");
    if (in == NULL || result == NULL) {
        return 1;
    }
    while (!failed && fread(obs, sizeof obs, 1, in) == 1) {
        rayprune_forward(obs, out);
        failed = fwrite(out, sizeof out, 1, result) != 1;
    }
    failed |= ferror(in) != 0;
    failed |= fclose(in) != 0;
    failed |= fclose(result) != 0;
    return failed;
}
"""

# argv: observations file, number of observations, latency blocks, calls per block, batch
# passes. Prints "latency <ns per call>" per block and "batch <ns per pass>" per pass.
TIMING_C = """\
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policy.h"

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    long n, blocks, calls, passes, b, k, i, row = 0;
    float *obs, *out;
    double start, checksum = 0.0;
    FILE *in;
    if (argc != 6) {
        return 2;
    }
    n = atol(argv[2]);
    blocks = atol(argv[3]);
    calls = atol(argv[4]);
    passes = atol(argv[5]);
    obs = malloc((size_t)n * RAYPRUNE_OBS_DIM * sizeof *obs);
    out = malloc((size_t)n * RAYPRUNE_OUT_DIM * sizeof *out);
    in = fopen(argv[1], "rb");
    if (obs == NULL || out == NULL || in == NULL) {
        return 1;
    }
    if (fread(obs, RAYPRUNE_OBS_DIM * sizeof *obs, (size_t)n, in) != (size_t)n) {
        return 1;
    }
    fclose(in);
    for (i = 0; i < n; ++i) { /* warm-up: caches, branch predictors, CPU clock */
        rayprune_forward(obs + i * RAYPRUNE_OBS_DIM, out + i * RAYPRUNE_OUT_DIM);
    }
    for (b = 0; b < blocks; ++b) {
        start = now_ns();
        for (k = 0; k < calls; ++k) {
            rayprune_forward(obs + row * RAYPRUNE_OBS_DIM, out);
            row = row + 1 == n ? 0 : row + 1;
        }
        printf("latency %.3f\\n", (now_ns() - start) / (double)calls);
        checksum += out[0];
    }
    for (b = 0; b < passes; ++b) {
        start = now_ns();
        for (i = 0; i < n; ++i) {
            rayprune_forward(obs + i * RAYPRUNE_OBS_DIM, out + i * RAYPRUNE_OUT_DIM);
        }
        printf("batch %.1f\\n", now_ns() - start);
        checksum += out[0];
    }
    printf("checksum %g\\n", checksum);
    free(obs);
    free(out);
    return 0;
}
"""


class CHeader(NamedTuple):
    """What policy.h declares: the observation and output widths, the action kind and, for
    MultiDiscrete, the sizes of its sub-actions (nvec; empty otherwise)."""

    obs_dim: int
    out_dim: int
    discrete: bool
    nvec: tuple[int, ...] = ()


class Timing(NamedTuple):
    """C forward-pass timing: batch-1 latency percentiles (ns) over blocks of `calls_per_block`
    consecutive calls, and throughput over passes through `batch` observations."""

    p50_ns: float
    p99_ns: float
    throughput: float  # observations per second, median pass
    calls_per_block: int
    blocks: int
    batch: int


def c_dir_of(path: Path) -> Path:
    """The folder holding policy.c and policy.h: `path` itself or its `c/` (a compact_policy)."""
    path = Path(path)
    for folder in (path / C_DIR, path):
        if (folder / SOURCE_FILE).is_file() and (folder / HEADER_FILE).is_file():
            return folder
    raise ArtifactError(f"{path} holds neither {SOURCE_FILE} nor {C_DIR}/{SOURCE_FILE}")


def read_header(c_dir: Path) -> CHeader:
    """RAYPRUNE_OBS_DIM, RAYPRUNE_OUT_DIM, whether RAYPRUNE_DISCRETE is defined, and
    RAYPRUNE_ACT_NVEC where RAYPRUNE_MULTI_DISCRETE is."""
    text = (Path(c_dir) / HEADER_FILE).read_text()

    def define(name: str) -> int:
        found = re.search(rf"^#define {name} (\d+)", text, re.MULTILINE)
        if found is None:
            raise ValueError(f"{Path(c_dir) / HEADER_FILE} does not define {name}")
        return int(found.group(1))

    discrete = re.search(r"^#define RAYPRUNE_DISCRETE 1", text, re.MULTILINE) is not None
    nvec = re.search(r"^#define RAYPRUNE_ACT_NVEC \{([\d, ]+)\}", text, re.MULTILINE)
    sizes = tuple(int(n) for n in nvec.group(1).split(",")) if nvec else ()
    return CHeader(define("RAYPRUNE_OBS_DIM"), define("RAYPRUNE_OUT_DIM"), discrete, sizes)


def tool(name: str, package: str) -> str:
    """The path of `name`, or CompilerMissing naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        raise CompilerMissing(f"{name} is not installed (Debian package {package})")
    return path


def _run(command: Sequence[str], cwd: Path) -> str:
    done = subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
    )
    if done.returncode != 0:
        raise ToolError(
            f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()[-4000:]}"
        )
    return done.stdout


def _build(compiler: str, c_dir: Path, harness: str, target: Path, flags: Sequence[str]) -> Path:
    """Compile policy.c with a harness (written beside target, never into c_dir) into target,
    linking -lm."""
    c_dir, harness_file = Path(c_dir).resolve(), target.with_suffix(".c")
    harness_file.write_text(harness)
    sources = [str(c_dir / SOURCE_FILE), str(harness_file)]
    command = [compiler, *CFLAGS, *flags, f"-I{c_dir}", *sources, "-o", str(target), "-lm"]
    _run(command, target.parent)
    return target


def compile_shared(c_dir: Path, workdir: Path, opt: Sequence[str] = ("-O2",)) -> Path:
    """workdir/librayprune_policy.so: the policy and a batch loop over rows, built by gcc."""
    target = Path(workdir) / LIBRARY
    return _build(tool("gcc", "gcc"), c_dir, BATCH_C, target, [*opt, "-fPIC", "-shared"])


def _unload(library: ctypes.CDLL, folder: tempfile.TemporaryDirectory) -> None:
    _ctypes.dlclose(library._handle)  # before the file goes, so its inode is never reused live
    folder.cleanup()


class CPolicy:
    """The C policy through ctypes, with OnnxPolicy's interface: forward gives what policy.onnx
    outputs; act gives the argmax, or the means clipped to the action bounds, both computed
    by the C (rayprune_act_discrete / rayprune_act_box)."""

    def __init__(self, policy_or_c_dir: Path, opt: Sequence[str] = ("-O2",)) -> None:
        c_dir = c_dir_of(policy_or_c_dir)
        self.header = read_header(c_dir)
        self.spaces, self.trained_on = self._spaces(Path(policy_or_c_dir))
        folder = tempfile.TemporaryDirectory(prefix="rayprune-c-")
        try:
            library = ctypes.CDLL(str(compile_shared(c_dir, Path(folder.name), opt)))
        except BaseException:
            folder.cleanup()
            raise
        self._close = weakref.finalize(self, _unload, library, folder)
        for function in (library.rayprune_py_forward, library.rayprune_py_act):
            function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
            function.restype = None
        self._forward, self._act = library.rayprune_py_forward, library.rayprune_py_act

    def _spaces(self, path: Path) -> tuple[EnvSpaces, str | None]:
        """From the policy folder's compression.json, or, for a bare c/ folder, the header's
        widths (bounds are the C's own business: rayprune_act_box clips)."""
        if (path / INFO_FILE).is_file():
            info = read_info(path)
            return info.spaces, info.env
        h = self.header
        if h.nvec:
            actions = ActionSpace("multi_discrete", nvec=h.nvec)
        elif h.discrete:
            actions = ActionSpace("discrete", n=h.out_dim)
        else:
            actions = ActionSpace("box", shape=(h.out_dim,))
        return EnvSpaces(h.obs_dim, actions), None

    @property
    def discrete(self) -> bool:
        return self.header.discrete

    def _rows(self, obs: np.ndarray) -> np.ndarray:
        if not self._close.alive:
            raise ValueError("this CPolicy is closed")
        batch = np.asarray(obs, dtype=np.float32).reshape(-1, self.header.obs_dim)
        return np.ascontiguousarray(batch)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """[batch, out_dim] float32: logits (Discrete) or action means (Box)."""
        rows = self._rows(obs)
        out = np.empty((len(rows), self.header.out_dim), dtype=np.float32)
        self._forward(rows.ctypes.data, out.ctypes.data, len(rows))
        return out

    def act(self, obs: np.ndarray) -> np.ndarray:
        """[batch] int64 actions (Discrete), [batch, sub-actions] int64 (MultiDiscrete), or
        [batch, out_dim] float32 clipped means (Box)."""
        rows = self._rows(obs)
        h = self.header
        if self.discrete:
            actions = np.empty(len(rows), dtype=np.intc)
        elif h.nvec:
            actions = np.empty((len(rows), len(h.nvec)), dtype=np.intc)
        else:
            actions = np.empty((len(rows), h.out_dim), dtype=np.float32)
        self._act(rows.ctypes.data, actions.ctypes.data, len(rows))
        return actions if actions.dtype == np.float32 else actions.astype(np.int64)

    def close(self) -> None:
        """Unload the library and delete its build folder (also done on garbage collection)."""
        self._close()

    def __enter__(self) -> CPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_obs(obs: np.ndarray, header: CHeader, path: Path) -> int:
    rows = np.ascontiguousarray(np.asarray(obs, dtype=np.float32).reshape(-1, header.obs_dim))
    rows.tofile(path)
    return len(rows)


def time_forward(
    c_dir: Path,
    obs: np.ndarray,
    opt: Sequence[str] = ("-O2",),
    blocks: int = 2000,
    calls_per_block: int = 100,
    passes: int = 20,
) -> Timing:
    """Time rayprune_forward in a C loop, one process run, no Python per call.

    Latency: `blocks` blocks of `calls_per_block` consecutive batch-1 calls, each on the next
    row of `obs`, timed with clock_gettime(CLOCK_MONOTONIC) around the block; a block's mean is
    one sample. Calls of ~100 ns are near the clock's own cost and resolution, so single calls
    could not be timed; p99 is therefore the 99th percentile of 100-call means (a slow call is
    diluted in its block). Throughput: `passes` passes over all rows of `obs`, median pass.
    """
    c_dir = c_dir_of(c_dir)
    header = read_header(c_dir)
    with tempfile.TemporaryDirectory(prefix="rayprune-time-") as tmp:
        work = Path(tmp)
        n = _write_obs(obs, header, work / "obs.bin")
        program = _build(tool("gcc", "gcc"), c_dir, TIMING_C, work / "timing", opt)
        args = [str(work / "obs.bin"), str(n), str(blocks), str(calls_per_block), str(passes)]
        out = _run([str(program), *args], work)
    samples = {kind: [] for kind in ("latency", "batch")}
    for line in out.splitlines():
        kind, value = line.split()
        if kind in samples:
            samples[kind].append(float(value))
    latency = sorted(samples["latency"])
    return Timing(
        p50_ns=statistics.median(latency),
        p99_ns=latency[int(0.99 * (len(latency) - 1))],
        throughput=n / (statistics.median(samples["batch"]) * 1e-9),
        calls_per_block=calls_per_block,
        blocks=blocks,
        batch=n,
    )


def cortex_m4_flash_bytes(c_dir: Path) -> int | None:
    """text + data of policy.o built by arm-none-eabi-gcc for a Cortex-M4F at -Os (weights are
    .rodata, counted in text); None when the toolchain is missing. libm (elu, silu) and the
    firmware's start-up code are not in the object, so not counted."""
    gcc, size = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    if gcc is None or size is None:
        return None
    c_dir = c_dir_of(c_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="rayprune-m4-") as tmp:
        obj = Path(tmp) / "policy.o"
        source = str(c_dir / SOURCE_FILE)
        _run(
            [gcc, *CFLAGS, *CORTEX_M4_FLAGS, f"-I{c_dir}", "-c", source, "-o", str(obj)], Path(tmp)
        )
        lines = _run([size, str(obj)], Path(tmp)).splitlines()
    text, data = lines[1].split()[:2]  # Berkeley format: text data bss dec hex filename
    return int(text) + int(data)


def run_under_qemu(c_dir: Path, obs: np.ndarray) -> np.ndarray:
    """[batch, out_dim] float32 outputs of a static aarch64 build (aarch64-linux-gnu-gcc -O2
    -static) run by qemu-aarch64; CompilerMissing when either tool is missing."""
    gcc = tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    qemu = tool("qemu-aarch64", "qemu-user")
    c_dir = c_dir_of(c_dir)
    header = read_header(c_dir)
    with tempfile.TemporaryDirectory(prefix="rayprune-qemu-") as tmp:
        work = Path(tmp)
        _write_obs(obs, header, work / "obs.bin")
        program = _build(gcc, c_dir, FILE_IO_C, work / "policy_aarch64", ["-O2", "-static"])
        _run([qemu, str(program), str(work / "obs.bin"), str(work / "out.bin")], work)
        out = np.fromfile(work / "out.bin", dtype=np.float32)
    return out.reshape(-1, header.out_dim)
