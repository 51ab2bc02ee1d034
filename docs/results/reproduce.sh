#!/usr/bin/env bash
# The sweeps behind docs/results/report/, as they were run (2 cores, no GPU), then the report.
# Every command is resumable: if one is interrupted, `rayprune resume NAME` picks it up.
# Total here: about 15 hours of sweeps, 10 of them the frontier searches (wall times per sweep in
# docs/results/README.md).
# Usage: bash docs/results/reproduce.sh [RESULTS_DIR]    (default: rayprune_results)
set -euo pipefail
cd "$(dirname "$0")/../.."
RESULTS=${1:-rayprune_results}
[ -x .venv/bin/rayprune ] || ./scripts/setup.sh
. .venv/bin/activate
sweep() { rayprune sweep "$@" --results "$RESULTS"; }

# CartPole-v1, 150k env steps: every method at 0.93 (lambda 1e-5, 1e-4, 1e-3; 3 seeds), then the
# pruning methods at 0.80, 0.85 and 0.90 (same settings, so the report joins the two slices).
sweep tune_configs/cartpole_methods.yaml
sweep tune_configs/cartpole_methods.yaml --set name=cartpole_sp80 \
  --set 'grid.sparsity_target=[0.8,0.85,0.9]' --set 'grid.method=[dsp,ssl,dropout,l1,pops,sgs,l0]'

# Acrobot-v1, 200k env steps: every method, sparsity 0.80-0.93, lambda 1e-4, 3 seeds.
sweep tune_configs/acrobot_dsp.yaml --set name=acrobot_repro --set budget_env_steps=200000 \
  --set pruning.end_iter=35 --set 'grid.method=[ppo,dsp,ssl,dropout,l1,pops,sgs,l0]' \
  --set 'grid.lambda=[1.0e-4]' --set 'grid.sparsity_target=[0.8,0.85,0.9,0.93]' --set 'grid.seed=[0,1,2]'

# LunarLander-v3, 2M env steps: every method at 0.93, lambda 1e-6, one seed.
sweep tune_configs/lunarlander_dsp.yaml --set name=lunar_repro --set budget_env_steps=2000000 \
  --set 'grid.method=[ppo,dsp,ssl,dropout,l1,pops,sgs,l0]' --set 'grid.lambda=[1.0e-6]' \
  --set 'grid.sparsity_target=[0.93]' --set 'grid.seed=[0]'

# MuJoCo, one seed, dense PPO and DSP at 0.93, at a fraction of the configs' cluster budgets.
sweep tune_configs/hopper_dsp.yaml --set name=hopper300k --set budget_env_steps=300000 \
  --set pruning.end_iter=50 --set 'grid.lambda=[1e-4]' --set 'grid.sparsity_target=[0.93]' \
  --set 'grid.seed=[0]'
sweep tune_configs/hopper_dsp.yaml --set name=hopper300k_l6 --set budget_env_steps=300000 \
  --set pruning.end_iter=50 --set 'grid.method=[dsp]' --set 'grid.lambda=[1.0e-6]' \
  --set 'grid.sparsity_target=[0.93]' --set 'grid.seed=[0]'
sweep tune_configs/hopper_dsp.yaml --set name=hopper1m --set pruning.end_iter=150 \
  --set 'grid.lambda=[1.0e-6]' --set 'grid.sparsity_target=[0.93]' --set 'grid.seed=[0]'
sweep tune_configs/walker2d_dsp.yaml --set name=walker1m --set budget_env_steps=1000000 \
  --set pruning.end_iter=150 --set 'grid.lambda=[1e-6]' --set 'grid.sparsity_target=[0.93]' \
  --set 'grid.seed=[0]'

# NSGA-II over method x lambda x sparsity on CartPole, 16 trials: the report's Pareto front.
sweep tune_configs/cartpole_optuna.yaml --set search.num_samples=16

rayprune report cartpole_methods cartpole_sp80 acrobot_repro lunar_repro hopper300k \
  hopper300k_l6 hopper1m walker1m cartpole_optuna --results "$RESULTS" --out docs/results/report

# Frontier searches at keep 0.95, 3 seeds (docs/results/README.md "The frontier search"); each
# report's frontier figure is committed as docs/results/report/NAME-frontier.png.
sweep tune_configs/cartpole_frontier.yaml --set name=cf_scratch --set 'grid.method=[dsp, ssl]'
sweep tune_configs/cartpole_frontier.yaml --set name=cf_scratch_l0_pops --set 'grid.method=[l0, pops]'
sweep tune_configs/cartpole_frontier.yaml --set name=cf_dense \
  --set search.init=dense --set search.finetune_env_steps=50000 --set search.reference=cf_scratch \
  --set pruning.start_iter=1 --set pruning.end_iter=15
sweep tune_configs/acrobot_frontier.yaml
sweep tune_configs/acrobot_frontier.yaml --set name=acrobot_frontier_l0_pops \
  --set 'grid.method=[l0, pops]' --set search.reference=acrobot_frontier
sweep tune_configs/acrobot_frontier.yaml --set name=acrobot_frontier_scratch \
  --set search.init=scratch --set search.finetune_env_steps=null \
  --set pruning.start_iter=5 --set pruning.end_iter=35 --set search.sparsity_min=0.9
sweep tune_configs/acrobot_frontier.yaml --set name=acrobot_frontier_scratch_l0_pops \
  --set 'grid.method=[l0, pops]' --set search.reference=acrobot_frontier_scratch \
  --set search.init=scratch --set search.finetune_env_steps=null \
  --set pruning.start_iter=5 --set pruning.end_iter=35 --set search.sparsity_min=0.9
sweep tune_configs/lunarlander_frontier.yaml
sweep tune_configs/lunarlander_frontier.yaml --set name=ll_frontier_ft600k \
  --set search.finetune_env_steps=600000 --set pruning.end_iter=24 \
  --set search.sparsity_min=0.86 --set search.sparsity_max=0.97
# (here stopped with Ctrl-C before its last probe, 0.86; run to the end it probes 0.86 too)
lunar_093() {  # one level, 0.93, from ll_frontier_ft600k's dense PPO policies
  sweep tune_configs/lunarlander_frontier.yaml --set search.reference=ll_frontier_ft600k \
    --set pruning.end_iter=24 --set search.sparsity_min=0.93 --set search.sparsity_max=0.935 "$@"
}
lunar_093 --set name=ll_093_ent0 --set search.finetune_env_steps=600000 --set ppo.entropy_coeff=0.0
lunar_093 --set name=ll_093_ft1m --set search.finetune_env_steps=1000000
sweep tune_configs/lunarlander_frontier.yaml --set name=ll_s1_ent0 --set 'grid.seed=[1]' \
  --set search.reference=ll_frontier_ft600k --set search.finetune_env_steps=600000 \
  --set pruning.end_iter=24 --set search.sparsity_min=0.91 --set search.sparsity_max=0.92 \
  --set ppo.entropy_coeff=0.0
# five seeds at 0.93 (keep 0.9), DSP trained from scratch, lambda 1e-6 and 1e-4, 1M env steps:
mujoco_093() { sweep "tune_configs/$1_frontier.yaml" --set name="$2" \
  --set search.sparsity_min=0.93 --set search.sparsity_max=0.935 "${@:3}"; }
mujoco_093 hopper hopper_093_5s
mujoco_093 walker2d walker_093_5s
# the same level from those sweeps' dense PPO policies (init dense), lambda 1e-4, pruned over
# iterations 1-60 of a 500k-env-step fine-tuning:
mujoco_093 hopper hopper_093_ft500k --set search.reference=hopper_093_5s --set search.init=dense \
  --set search.finetune_env_steps=500000 --set 'grid.lambda=[1.0e-4]' \
  --set pruning.start_iter=1 --set pruning.end_iter=60
mujoco_093 walker2d walker_093_ft500k --set search.reference=walker_093_5s --set search.init=dense \
  --set search.finetune_env_steps=500000 --set 'grid.lambda=[1.0e-4]' \
  --set pruning.start_iter=1 --set pruning.end_iter=60
# LunarLander-v3, five seeds at 0.93 (keep 0.95), lunar_repro's settings: dense PPO, DSP, SSL
# and PoPS trained from scratch for 2M env steps, lambda 1e-6:
sweep tune_configs/lunarlander_frontier.yaml --set name=ll_093_5s --set budget_env_steps=2000000 \
  --set 'grid.method=[dsp,ssl,pops]' --set 'grid.seed=[0,1,2,3,4]' --set search.init=scratch \
  --set search.finetune_env_steps=null --set pruning.start_iter=5 --set pruning.end_iter=40 \
  --set search.sparsity_min=0.93 --set search.sparsity_max=0.9301
for name in cf_scratch_l0_pops acrobot_frontier acrobot_frontier_l0_pops acrobot_frontier_scratch \
  acrobot_frontier_scratch_l0_pops lunarlander_frontier; do
  rayprune report "$name" --results "$RESULTS"
  cp "$RESULTS/reports/$name/$name-frontier.png" docs/results/report/
done

# int8 against float32 (README "Deploy on a microcontroller"): one DSP trial at 93% per task,
# the best policy pulled, its int8 C exported and evaluated on the trial's evaluation episodes.
sweep tune_configs/cartpole_dsp.yaml --set name=cp93 --set budget_env_steps=100000 \
  --set 'grid.sparsity_target=[0.93]' --set 'grid.lambda=[1e-4]' --set 'grid.seed=[0]' \
  --set 'grid.method=[dsp]' --set pruning.end_iter=40
sweep tune_configs/acrobot_dsp.yaml --set name=ac93 --set budget_env_steps=200000 \
  --set pruning.end_iter=35 --set 'grid.method=[dsp]' --set 'grid.lambda=[1.0e-4]' \
  --set 'grid.sparsity_target=[0.93]' --set 'grid.seed=[0]'
sweep tune_configs/lunarlander_dsp.yaml --set name=ll93 --set budget_env_steps=2000000 \
  --set 'grid.method=[dsp]' --set 'grid.lambda=[1.0e-6]' --set 'grid.sparsity_target=[0.93]' \
  --set 'grid.seed=[0]'
for name in cp93 ac93 ll93; do
  rayprune best "$name" --results "$RESULTS" --out "$name"_policy
  rayprune export "$name"_policy --out "$name"_int8            # prints int8 and float returns
  rayprune eval "$name"_int8 --runtime c --episodes 100 --seed 50000
  rayprune eval "$name"_policy --runtime c --episodes 100 --seed 50000
done
