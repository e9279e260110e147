"""Moved to idff.toy.plots; this path stays for one release."""

from idff.toy.plots import plot_samples_and_trajectories

__all__ = ["plot_samples_and_trajectories"]
