"""Seconds per training iteration of DSP against dense PPO, interleaved in one process.

    python benchmarks/overhead.py [--iterations 40] [--config tune_configs/cartpole_dsp.yaml]

Both algorithms use the same PPO settings, network and masked module; DSP adds the regularizer
to every minibatch loss and the importance ranking, mask update and size metrics to every
iteration (its schedule prunes during the measured window). The order alternates each round so
drift on the machine hits both alike. Target: ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

TARGET = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=Path("tune_configs/cartpole_dsp.yaml"))
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    parser.add_argument("--sparsity", type=float, default=0.93)
    args = parser.parse_args()

    import ray

    from rayprune.rllib import build_ppo_config
    from rayprune.sweep.config import load_config
    from rayprune.sweep.trainable import pruning_dict

    cfg = load_config(args.config)
    end = args.warmup + args.iterations // 2  # prune through the first half of the window
    cfg = cfg.model_copy(
        update={
            "pruning": cfg.pruning.model_copy(update={"start_iter": args.warmup, "end_iter": end})
        }
    )
    points = {
        "dsp": {"method": "dsp", "lambda": args.lam, "sparsity_target": args.sparsity, "seed": 0},
        "ppo": {"method": "ppo", "lambda": 0.0, "sparsity_target": 0.0, "seed": 0},
    }
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        algos = {
            name: build_ppo_config(
                env=cfg.env, seed=0, ppo=cfg.ppo.model_dump(), model=cfg.model.model_dump(),
                pruning=pruning_dict(cfg, point), num_envs_per_env_runner=cfg.num_envs_per_env_runner,
            ).build_algo()
            for name, point in points.items()
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in algos}
        for round_ in range(args.warmup + args.iterations):
            order = list(algos) if round_ % 2 == 0 else list(reversed(algos))
            for name in order:
                start = time.perf_counter()
                algos[name].train()
                if round_ >= args.warmup:
                    times[name].append(time.perf_counter() - start)
        for algo in algos.values():
            algo.stop()
    finally:
        ray.shutdown()

    dsp, ppo = statistics.median(times["dsp"]), statistics.median(times["ppo"])
    ratio = dsp / ppo
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"env {cfg.env}, {cfg.ppo.train_batch_size} steps/iter, {cfg.ppo.num_epochs} epochs, hidden {cfg.model.hidden}"
    )
    print(f"dense PPO: {ppo:.3f} s/iter (median of {len(times['ppo'])})")
    print(
        f"DSP:       {dsp:.3f} s/iter (median of {len(times['dsp'])}), lambda {args.lam}, sparsity {args.sparsity}"
    )
    print(
        f"ratio DSP / PPO = {ratio:.3f}  (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
