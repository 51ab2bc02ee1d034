"""What the paper reports (Su et al., arXiv 2402.05146; /work/shared/paper/METHOD.md), set
beside our numbers, and the paper's names for the methods. The one copy of these numbers."""

from __future__ import annotations

from rayprune.store.point import short_number

PAPER_SPARSITY = 0.93  # the paper's comparison table is at 93% pruning

# Mean ± std return at 93% pruning (dense PPO unpruned), as printed; the paper's own text is
# inconsistent in places, hence the notes. Gymnasium ids of today (v2/v3 are gone).
PAPER_93 = {
    ("ppo", "CartPole-v1"): "449.22",
    ("dsp", "CartPole-v1"): "272.99 ± 124.96",
    ("ssl", "CartPole-v1"): "239.08 ± 127.72",
    ("dropout", "CartPole-v1"): "-52.22 (sic)",
    ("l1", "CartPole-v1"): "402.82 ± 10.11",
    ("pops", "CartPole-v1"): "442.77 ± 10",
    ("sgs", "CartPole-v1"): "268.26 (text, Fig. 5)",
    ("ppo", "LunarLander-v3"): "-61.03",
    ("dsp", "LunarLander-v3"): "-28.09 ± 157.55",
    ("ssl", "LunarLander-v3"): "-44.22 ± 119.13",
    ("dropout", "LunarLander-v3"): "-144.36 ± 9.47",
    ("l1", "LunarLander-v3"): "-49.43 ± 47.11",
    ("pops", "LunarLander-v3"): "134.33 ± 19.28",
    ("dsp", "Hopper-v5"): "1476.62 ± 997.43",
    ("ssl", "Hopper-v5"): "1158.74 ± 844.18",
    ("dropout", "Hopper-v5"): "1445.25 ± 155.49",
    ("l1", "Hopper-v5"): "1396.63",
    ("pops", "Hopper-v5"): "2198 ± 97.36",
    ("dsp", "Walker2d-v5"): "1310.67 ± 899.28",
    ("ssl", "Walker2d-v5"): "1098.34 ± 842.67",
    ("dropout", "Walker2d-v5"): "1002.57 ± 201.99",
    ("l1", "Walker2d-v5"): "2032.92",
    ("pops", "Walker2d-v5"): "1428.67 ± 496.58",
}

# In the paper's order; a method not listed here sorts after these.
METHOD_LABELS = {
    "ppo": "PPO (dense)",
    "dsp": "PPO-DSP",
    "ssl": "PPO-SSL",
    "dropout": "PPO-Dropout",
    "l1": "PPO-L1 Lasso",
    "pops": "PPO-PoPS",
    "sgs": "PPO-SGS",
    "l0": "L0 + low rank",
}


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def lambda_text(lam: float) -> str:
    """lambda as the run names write it (1e-4; an Optuna sample to three digits, 7.05e-5); '-'
    for a method without a penalty (its runs log lambda 0)."""
    return short_number(lam) if lam else "-"


def method_order(method: str) -> tuple[int, str]:
    """Sort key: the paper's order first, then unknown methods by name."""
    order = list(METHOD_LABELS)
    return (order.index(method) if method in order else len(order), method)


def paper_return(method: str, env: str, sparsity_target: float, dense: bool) -> str | None:
    """The paper's return for this row: only at its 93% (or for the dense, unpruned PPO)."""
    if not dense and abs(sparsity_target - PAPER_SPARSITY) > 1e-9:
        return None
    return PAPER_93.get((method, env))
