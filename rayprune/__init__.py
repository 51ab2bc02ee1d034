"""rayprune: PPO actors pruned neuron by neuron while they train (DSP, arXiv 2402.05146)."""

__version__ = "0.1.0"
