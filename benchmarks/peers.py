"""rayprune's PPO (dense and DSP) against Stable-Baselines3 and CleanRL's PPO, interleaved in one
process on one torch thread.

    python benchmarks/peers.py [--env cartpole|hopper] [--minibatch N] [--iterations 30] [--warmup 3]
        [--to-return 475 --seeds 0 1 --max-env-steps 200000]

Every contender runs the same PPO: `--env cartpole` is CartPole-v1, 8 envs x 250 steps = 2000
steps per iteration, minibatch 128, 10 epochs, lr 3e-4, GAE 0.95, gamma 0.99, clip 0.2, grad
clip 0.5, no entropy bonus, actor and critic 128x128 tanh; `--env hopper` is Hopper-v5 with
SB3's MuJoCo defaults: 1 env x 2048 steps, minibatch 64, 10 epochs, 64x64 tanh, the rest as
above. The contenders train one iteration each per round, the order rotated every round, so
drift on the machine hits all alike. Printed: median s/iter with its sampling / update split,
CPU s/iter, each against SB3; DSP / dense CPU time (target <= 1.05); each contender's build
time. With --to-return, then, per seed, wall time and env steps until the mean training return
of the last 20 episodes reaches the threshold (the same rotation).

SB3 is installed at run time into benchmarks/.peers (pip --target, no dependencies: it needs
only torch, gymnasium, numpy and cloudpickle, which rayprune's environment has), never into the
project's environment. CleanRL's algorithm is benchmarks/reference_ppo.py.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import load_average  # noqa: E402
from reference_ppo import ReferencePPO, Settings, Split  # noqa: E402

SB3 = "stable-baselines3==2.9.2"
PEERS_DIR = Path(__file__).resolve().parent / ".peers"
TARGET_VS_SB3 = 1.0  # rayprune dense s/iter over SB3's
TARGET_DSP = 1.05  # DSP CPU s/iter over dense's
SETTINGS = {
    "cartpole": Settings("CartPole-v1", 8, 250, 128, 10, (128, 128)),
    "hopper": Settings("Hopper-v5", 1, 2048, 64, 10, (64, 64)),
}


class Contender(Protocol):
    env_steps: int

    def iterate(self) -> Split: ...

    def return_mean(self) -> float: ...

    def close(self) -> None: ...


class Rayprune:
    """rayprune's PPO as a sweep trial builds it (build_ppo_config, sampling and learning in
    this process), split into sampling and update by timing the two calls PPO's training_step
    makes: the local EnvRunner's sample() and the LearnerGroup's update()."""

    def __init__(self, s: Settings, seed: int, method: str, prune_iters: tuple[int, int]) -> None:
        from rayprune.pruning import PruningSpec
        from rayprune.rllib import ActorCriticSpec, build_ppo_config
        from rayprune.sweep.config import PPOSettings

        ppo = PPOSettings(
            lr=s.lr, gamma=s.gamma, gae_lambda=s.gae_lambda, clip_param=s.clip_coef,
            vf_clip_param=1e6, entropy_coeff=s.ent_coef, vf_loss_coeff=s.vf_coef,
            num_epochs=s.epochs, minibatch_size=s.minibatch_size,
            train_batch_size=s.batch_size, grad_clip=s.max_grad_norm,
        )  # fmt: skip
        pruning = {"method": method}
        if method != "ppo":
            start, end = prune_iters
            pruning |= {"lam": 1e-4, "schedule": {"sparsity_target": 0.93, "start_iter": start,
                                                   "end_iter": end}}  # fmt: skip
        network = {"hidden": list(s.hidden), "critic_hidden": list(s.hidden)}
        self.algo = build_ppo_config(
            env=s.env, seed=seed, ppo=ppo.model_dump(), network=ActorCriticSpec.from_dict(network),
            pruning=PruningSpec.from_dict(pruning), num_envs_per_env_runner=s.num_envs,
        ).build_algo()  # fmt: skip
        self._sampling = 0.0
        self._wrap_sampling(self.algo.env_runner_group.local_env_runner)
        self.env_steps, self._return = 0, float("nan")

    def _wrap_sampling(self, runner: Any) -> None:
        sample = runner.sample

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return sample(*args, **kwargs)
            finally:
                self._sampling += time.perf_counter() - start

        runner.sample = timed

    def iterate(self) -> Split:
        self._sampling = 0.0
        start = time.perf_counter()
        result = self.algo.train()
        total = time.perf_counter() - start
        runners = result["env_runners"]
        self.env_steps = int(runners["num_env_steps_sampled_lifetime"])
        self._return = float(runners.get("episode_return_mean", float("nan")))
        return Split(self._sampling, total - self._sampling)

    def return_mean(self) -> float:
        return self._return

    def close(self) -> None:
        self.algo.stop()


class StableBaselines3:
    """SB3's PPO, one learn() call of exactly one rollout per iteration; a callback splits
    rollout from update."""

    def __init__(self, s: Settings, seed: int) -> None:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.env_util import make_vec_env
        from torch import nn

        marks: dict[str, float] = {}

        class Rollout(BaseCallback):
            def _on_rollout_start(self) -> None:
                marks["start"] = time.perf_counter()

            def _on_rollout_end(self) -> None:
                marks["end"] = time.perf_counter()

            def _on_step(self) -> bool:
                return True

        self.marks, self.callback = marks, Rollout()
        net = {"net_arch": {"pi": list(s.hidden), "vf": list(s.hidden)}, "activation_fn": nn.Tanh}
        self.model = PPO(
            "MlpPolicy", make_vec_env(s.env, n_envs=s.num_envs, seed=seed),
            n_steps=s.num_steps, batch_size=s.minibatch_size, n_epochs=s.epochs,
            learning_rate=s.lr, gamma=s.gamma, gae_lambda=s.gae_lambda, clip_range=s.clip_coef,
            ent_coef=s.ent_coef, vf_coef=s.vf_coef, max_grad_norm=s.max_grad_norm,
            policy_kwargs=net, seed=seed, device="cpu", verbose=0,
        )  # fmt: skip
        self.batch, self.env_steps = s.batch_size, 0

    def iterate(self) -> Split:
        start = time.perf_counter()
        self.model.learn(self.batch, callback=self.callback, reset_num_timesteps=False)
        end = time.perf_counter()
        self.env_steps = int(self.model.num_timesteps)
        sampling = self.marks["end"] - self.marks["start"]
        return Split(sampling, end - start - sampling)

    def return_mean(self) -> float:
        recent = [info["r"] for info in list(self.model.ep_info_buffer)[-20:]]
        return float(statistics.fmean(recent)) if recent else float("nan")

    def close(self) -> None:
        self.model.env.close()


def install_sb3() -> None:
    """SB3 into benchmarks/.peers, once, and onto sys.path."""
    if not (PEERS_DIR / "stable_baselines3").is_dir():
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                   str(PEERS_DIR), SB3]  # fmt: skip
        subprocess.run(command, check=True)
    sys.path.insert(0, str(PEERS_DIR))


def build(s: Settings, seed: int, prune_iters: tuple[int, int]) -> dict[str, tuple[Any, float]]:
    """Each contender and the seconds its construction took."""
    makers = {
        "rayprune dense": lambda: Rayprune(s, seed, "ppo", prune_iters),
        "rayprune DSP": lambda: Rayprune(s, seed, "dsp", prune_iters),
        "SB3 PPO": lambda: StableBaselines3(s, seed),
        "CleanRL ppo": lambda: ReferencePPO(s, seed),
    }
    built = {}
    for name, make in makers.items():
        start = time.perf_counter()
        built[name] = (make(), time.perf_counter() - start)
    return built


class Sample:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.splits: list[Split] = []


def rotate(names: list[str], round_: int) -> list[str]:
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def speed(contenders: dict[str, Contender], warmup: int, iterations: int) -> dict[str, Sample]:
    samples = {name: Sample() for name in contenders}
    for round_ in range(warmup + iterations):
        for name in rotate(list(contenders), round_):
            wall, cpu = time.perf_counter(), time.process_time()
            split = contenders[name].iterate()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if round_ >= warmup:
                samples[name].wall.append(wall)
                samples[name].cpu.append(cpu)
                samples[name].splits.append(split)
    return samples


def to_return(
    contenders: dict[str, Contender], threshold: float, max_env_steps: int
) -> dict[str, tuple[float, int] | None]:
    """Wall seconds of training and env steps until the return mean reaches the threshold."""
    spent = dict.fromkeys(contenders, 0.0)
    reached: dict[str, tuple[float, int] | None] = {}
    round_ = 0
    while len(reached) < len(contenders):
        for name in rotate([n for n in contenders if n not in reached], round_):
            one = contenders[name]
            start = time.perf_counter()
            one.iterate()
            spent[name] += time.perf_counter() - start
            if one.return_mean() >= threshold:
                reached[name] = (spent[name], one.env_steps)
            elif one.env_steps >= max_env_steps:
                reached[name] = None
        round_ += 1
    return reached


def print_speed(samples: dict[str, Sample], builds: dict[str, float]) -> None:
    med = {name: statistics.median(s.wall) for name, s in samples.items()}
    cpu = {name: statistics.median(s.cpu) for name, s in samples.items()}
    sb3 = med["SB3 PPO"]
    print(
        f"{'':<16}{'s/iter':>8}{'sampling':>10}{'update':>8}{'CPU s':>8}{'vs SB3':>8}{'build s':>9}"
    )
    for name, s in samples.items():
        sampling = statistics.median(x.sampling_s for x in s.splits)
        update = statistics.median(x.update_s for x in s.splits)
        print(
            f"{name:<16}{med[name]:8.3f}{sampling:10.3f}{update:8.3f}{cpu[name]:8.3f}"
            f"{med[name] / sb3:8.2f}{builds[name]:9.1f}"
        )
    dense = med["rayprune dense"] / sb3
    dsp = cpu["rayprune DSP"] / cpu["rayprune dense"]
    print(f"rayprune dense / SB3 s/iter = {dense:.2f} (target <= {TARGET_VS_SB3}: "
          f"{'met' if dense <= TARGET_VS_SB3 else 'NOT met'})")  # fmt: skip
    print(f"DSP / dense CPU s/iter = {dsp:.3f} (target <= {TARGET_DSP}: "
          f"{'met' if dsp <= TARGET_DSP else 'NOT met'})")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", choices=list(SETTINGS), default="cartpole")
    parser.add_argument("--minibatch", type=int, default=None, help="instead of the env's")
    parser.add_argument("--iterations", type=int, default=30, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first")
    parser.add_argument("--to-return", type=float, default=None, help="e.g. 475 on CartPole")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--max-env-steps", type=int, default=200_000)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local Ray only this process uses
    import ray
    import torch

    torch.set_num_threads(1)
    install_sb3()
    s = SETTINGS[args.env]
    if args.minibatch is not None:
        s = s._replace(minibatch_size=args.minibatch)
    prune_iters = (args.warmup, args.warmup + args.iterations // 2)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")  # fmt: skip
    try:
        built = build(s, 0, prune_iters)
        contenders = {name: one for name, (one, _) in built.items()}
        samples = speed(contenders, args.warmup, args.iterations)
        print(f"{s.env}: {s.num_envs} envs x {s.num_steps} steps, minibatch {s.minibatch_size}, "
              f"{s.epochs} epochs, {list(s.hidden)} tanh, 1 torch thread; median of "
              f"{args.iterations} interleaved iterations after {args.warmup}; load average "
              f"{load_average()}")  # fmt: skip
        print_speed(samples, {name: b for name, (_, b) in built.items()})
        for one in contenders.values():
            one.close()
        if args.to_return is not None:
            for seed in args.seeds:
                fresh = {name: one for name, (one, _) in build(s, seed, prune_iters).items()}
                reached = to_return(fresh, args.to_return, args.max_env_steps)
                for name, found in reached.items():
                    said = f"{found[0]:6.1f} s, {found[1]} env steps" if found else "not reached"
                    print(f"seed {seed} {name:<16} return {args.to_return}: {said}")
                for one in fresh.values():
                    one.close()
    finally:
        ray.shutdown()
    print(f"command: {shlex.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
