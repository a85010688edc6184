"""jaxrl: reinforcement learning in pure JAX. Environments live in the sibling package ``envs``."""

__version__ = "0.1.0"
