"""Small network building blocks shared by the algorithms (flax linen).

Observations reach a network through ``encode_observation``: a ``Box`` observation is
cast to float32 and flattened; a ``Discrete`` one (Taxi's state index) is one-hot
encoded first. ``observation_input(space, ...)`` reads which of the two an
environment needs, and refuses anything else with a clear ``ValueError``.

Torsos: ``"mlp"`` flattens the observation into Dense layers; ``"conv"`` first runs one
3x3 convolution with 16 channels, stride 1, no padding, ReLU over an image observation
``[H, W, C]`` (MinAtar's baseline networks, Young and Tian, 2019) and flattens its
output into the Dense layers. ``choose_torso("auto", input)`` picks ``"conv"`` for
image-like observations (``[H, W]`` or ``[H, W, C]`` with ``H, W >= 8``, e.g. MinAtar's
10x10 planes) and ``"mlp"`` otherwise (vectors, the 4x4 Gridworld boards the book flattens).
``"relational"`` (DQN, chapter 10; never chosen by ``"auto"``): the image's cells as entities
with one multi-head self-attention block over them, max-pooled (``relational_features``);
``attention_weights(network, params, obs)`` reads the heads' weights back for pictures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import spaces

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "leaky_relu": nn.leaky_relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "swish": nn.swish,  # x * sigmoid(x) (rejax's choice for Pendulum)
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """Look up an activation by name, with a clear error for unknown names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def orthogonal_initializer(scale: float = 1.0, column_axis: int = -1) -> Callable[..., jax.Array]:
    """flax's ``nn.initializers.orthogonal(scale, column_axis)``, drawn one matrix at a
    time under ``vmap``.

    The same values as flax's for the same key, shape and dtype, bit for bit (the very
    same function draws them; tests/test_canary.py checks it). Only ``vmap`` differs: over
    many seeds flax's initialiser becomes one batched QR, which jaxlib 0.10.0-0.10.2 spread
    over XLA's CPU thread pool, and on a 2-core CPU that can deadlock (the program waits in
    ``block_until_ready`` forever at 0 % CPU). ``jax.custom_batching.sequential_vmap`` makes
    the batch a loop (``lax.map``) of single QRs instead, the same numbers one seed after
    another. It is slower (16 seeds of a 64-64 MLP: about 6 ms instead of 4), but
    initialisation runs once per run.
    """
    base = nn.initializers.orthogonal(scale, column_axis)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = None) -> jax.Array:
        shape = tuple(shape)
        draw = (lambda k: base(k, shape)) if dtype is None else (lambda k: base(k, shape, dtype))
        return jax.custom_batching.sequential_vmap(draw)(key)

    return init


@dataclasses.dataclass(frozen=True)
class ObservationInput:
    """How a network reads one environment's observations.

    Attributes:
        shape: one observation's shape, as the environment returns it.
        num_categories: ``n`` for a ``Discrete(n)`` observation (one-hot encoded into
            ``n`` features); 0 for a ``Box`` (cast to float32).
    """

    shape: tuple[int, ...]
    num_categories: int = 0

    @property
    def ndim(self) -> int:
        """Trailing axes of an observation (the rest are batch axes)."""
        return len(self.shape)

    def dummy(self, batch: tuple[int, ...] = ()) -> jax.Array:
        """Zeros shaped like ``batch`` observations, for ``module.init``."""
        dtype = jnp.int32 if self.num_categories else jnp.float32
        return jnp.zeros((*batch, *self.shape), dtype)


def observation_input(space: Any, algorithm: str, env_name: str) -> ObservationInput:
    """The ``ObservationInput`` for an observation space, or a ``ValueError`` naming
    ``algorithm``, ``env_name`` and what the networks read (a ``Box`` or one ``Discrete``)."""
    if isinstance(space, spaces.Box):
        return ObservationInput(tuple(space.shape))
    if isinstance(space, spaces.Discrete) and space.shape == ():
        return ObservationInput((), int(space.n))
    raise ValueError(
        f"{algorithm} cannot read the observations of {env_name}: its networks take a Box "
        f"or a single Discrete observation, got {space!r}"
    )


def q_value_actions(space: Any, algorithm: str, env_name: str) -> int:
    """How many actions a Q-network scores: ``n`` of a single ``Discrete(n)`` action space,
    else a ``ValueError`` naming ``algorithm`` and ``env_name`` (one Q-value per action
    needs discrete actions)."""
    if not isinstance(space, spaces.Discrete) or space.shape != ():
        raise ValueError(
            f"{algorithm} needs a single Discrete action (one Q-value per action), but "
            f"{env_name} has actions {space!r}; use ppo for continuous actions"
        )
    return int(space.n)


TORSOS = ("auto", "mlp", "conv")
RELATIONAL_TORSOS = TORSOS + ("relational",)  # the torsos DQN offers
CONV_MIN_SIDE = 8  # "auto" uses the conv torso for images at least this many cells a side
CONV_CHANNELS = 16
CONV_KERNEL = 3


def choose_torso(torso: str, inp: ObservationInput, owner: str = "torso",
                 allowed: tuple[str, ...] = TORSOS) -> str:
    """``"mlp"``, ``"conv"`` (or ``"relational"``, where ``allowed``) for observations read as ``inp``.

    ``"auto"`` picks ``"conv"`` for an image-like ``Box`` (``[H, W]`` or ``[H, W, C]``, both
    sides at least ``CONV_MIN_SIDE``), ``"mlp"`` otherwise. An explicit ``"conv"`` needs an
    image (at least ``CONV_KERNEL`` cells a side), ``"relational"`` an image of any size;
    anything else is a ``ValueError`` naming ``owner`` (the config field).
    """
    if torso not in allowed:
        raise ValueError(f"{owner} {torso!r} unknown; choose from {', '.join(allowed)}")
    image = inp.num_categories == 0 and inp.ndim in (2, 3)
    if torso == "auto":
        return "conv" if image and min(inp.shape[:2]) >= CONV_MIN_SIDE else "mlp"
    if torso == "relational" and not image:
        raise ValueError(
            f"{owner} 'relational' needs image observations [H, W] or [H, W, C] (its cells are "
            f"the entities), got shape {inp.shape}"
            + (" (a Discrete state index)" if inp.num_categories else "")
        )
    if torso == "conv" and not (image and min(inp.shape[:2]) >= CONV_KERNEL):
        raise ValueError(
            f"{owner} 'conv' needs image observations [H, W] or [H, W, C] at least "
            f"{CONV_KERNEL} cells a side, got shape {inp.shape}"
            + (" (a Discrete state index)" if inp.num_categories else "")
        )
    return torso


class PatchConv(nn.Module):
    """A stride-1, unpadded 2-D convolution computed as one matmul over image patches.

    Same maths and parameter shapes as ``nn.Conv(features, (k, k), padding="VALID")``
    (``kernel: [k, k, C, features]``, ``bias: [features]``). Why not ``nn.Conv``: under
    ``vmap`` over seeds (each seed its own kernel) ``lax.conv`` becomes a grouped
    convolution, which XLA:CPU runs an order of magnitude slower than the batched
    matmul this turns into.
    """

    features: int
    kernel_size: int = CONV_KERNEL
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``float32[B, H, W, C]`` -> ``float32[B, H - k + 1, W - k + 1, features]``."""
        k = self.kernel_size
        c = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, c, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        h, w = x.shape[-3] - k + 1, x.shape[-2] - k + 1
        # patches[..., i, j, (di, dj, c)] = x[..., i + di, j + dj, c]: the kernel's own order.
        patches = jnp.concatenate(
            [x[..., di: di + h, dj: dj + w, :] for di in range(k) for dj in range(k)], axis=-1
        )
        return patches @ kernel.reshape(k * k * c, self.features) + bias


def conv_features(x: jax.Array, obs_ndim: int, kernel_init: Any = None) -> jax.Array:
    """The conv torso inside a compact module: ``float32[..., H, W(, C)]`` ->
    ``float32[..., features]``, one ``CONV_KERNEL`` x ``CONV_KERNEL`` convolution with
    ``CONV_CHANNELS`` channels, stride 1, no padding, ReLU, flattened (``PatchConv``).
    Leading axes are batch. ``kernel_init``: the kernel initialiser (lecun normal when
    None, flax's default)."""
    lead = x.shape[: x.ndim - obs_ndim]
    img = jnp.reshape(x, (-1, *x.shape[x.ndim - obs_ndim:]))
    if obs_ndim == 2:
        img = img[..., None]
    kwargs = {} if kernel_init is None else {"kernel_init": kernel_init}
    y = nn.relu(PatchConv(CONV_CHANNELS, CONV_KERNEL, **kwargs)(img))
    return jnp.reshape(y, (*lead, -1))


def channel_categories(space: Any) -> tuple[int, ...]:
    """Per-channel category counts of an integer image ``Box`` whose every cell has the
    same bounds ``0 .. high[c]`` (MiniGrid's (object, colour, state) cells: ``(11, 6, 3)``),
    for ``relational_features`` to one-hot encode; ``()`` for anything else (read as floats)."""
    if not isinstance(space, spaces.Box) or not np.issubdtype(np.dtype(space.dtype), np.integer):
        return ()
    if len(space.shape) != 3:
        return ()
    low = np.asarray(space.low).reshape(-1, space.shape[-1])
    high = np.asarray(space.high, np.int64).reshape(-1, space.shape[-1])
    if np.any(low != 0) or np.any(high != high[:1]) or np.any(high[0] > 255):
        return ()
    return tuple(int(h) + 1 for h in high[0])


RELATIONAL_HEADS = 3  # the book's chapter 10 module
RELATIONAL_WIDTH = 64


def relational_features(
    x: jax.Array, obs_ndim: int, categories: tuple[int, ...] = (),
    heads: int = RELATIONAL_HEADS, width: int = RELATIONAL_WIDTH, pool: str = "max",
) -> tuple[jax.Array, jax.Array]:
    """The relational torso inside a compact module: an image observation's cells as
    entities, one multi-head self-attention block over them, max-pooled.

    ``x``: ``[..., H, W(, C)]`` (leading axes are batch). Each of the ``N = H * W`` cells is
    an entity: its channels (one-hot per channel when ``categories`` gives the counts,
    ``channel_categories``; else the raw values as floats) and its position (two
    coordinates in [-1, 1]), embedded by ``Dense(width)`` + ReLU. Then ``heads`` heads of
    scaled dot-product self-attention (queries, keys, values ``Dense(heads * width)``;
    weights ``softmax(q k^T / sqrt(width))`` over the N cells), their outputs joined by a
    ``Dense(width)``, added to the embedding and layer-normalised (no parameters), a
    ``Dense(width)`` + ReLU per entity, and the maximum over entities (Zambaldi et al.,
    2019; the book's chapter 10 module has 3 heads and a max-pool too, with an additive
    attention score; this uses the standard scaled dot product). ``pool="flatten"`` keeps
    every entity's features instead (``N * width``, in cell order) for the layers after.

    Only ``nn.Dense`` layers (flat names), so ``dqn.init_params`` draws them like the rest.

    Returns:
        ``(features float32[..., width or N * width], attention float32[..., heads, N, N])``:
        the pooled features and each head's weights (row: the attending cell, column: the
        cell attended to; cells in row-major ``[x, y]`` order of the observation's first two
        axes).
    """
    lead = x.shape[: x.ndim - obs_ndim]
    img = jnp.reshape(x, (-1, *x.shape[x.ndim - obs_ndim:]))
    if obs_ndim == 2:
        img = img[..., None]
    b, h, w, _ = img.shape
    if categories:
        feats = jnp.concatenate(
            [jax.nn.one_hot(img[..., i].astype(jnp.int32), n, dtype=jnp.float32)
             for i, n in enumerate(categories)], axis=-1)
    else:
        feats = img.astype(jnp.float32)
    coords = jnp.stack(jnp.meshgrid(jnp.linspace(-1.0, 1.0, h), jnp.linspace(-1.0, 1.0, w),
                                    indexing="ij"), axis=-1)  # [h, w, 2]
    feats = jnp.concatenate([feats, jnp.broadcast_to(coords, (b, h, w, 2))], axis=-1)
    n = h * w
    e = nn.relu(nn.Dense(width, name="entity")(feats.reshape(b, n, -1)))  # [b, n, width]

    def project(name: str) -> jax.Array:
        return nn.Dense(heads * width, name=name)(e).reshape(b, n, heads, width)

    q, k, v = project("query"), project("key"), project("value")
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(width)
    att = jax.nn.softmax(scores, axis=-1)  # [b, heads, n, n]
    out = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, n, heads * width)
    y = e + nn.Dense(width, name="attend")(out)
    mean = jnp.mean(y, axis=-1, keepdims=True)
    y = (y - mean) * jax.lax.rsqrt(jnp.var(y, axis=-1, keepdims=True) + 1e-5)
    y = nn.relu(nn.Dense(width, name="entity_mlp")(y))
    if pool == "flatten":  # every entity's features, in cell order: [b, n * width]
        pooled = y.reshape(b, n * width)
    else:
        pooled = jnp.max(y, axis=1)  # [b, width]
    return (pooled.reshape(*lead, -1), att.reshape(*lead, heads, n, n))


def encode_observation(obs: jax.Array, obs_ndim: int, num_categories: int = 0) -> jax.Array:
    """Network input ``float32[..., features]`` from observations ``[..., *obs_shape]``.

    The last ``obs_ndim`` axes are one observation (leading axes are batch). With
    ``num_categories = n > 0`` every entry is an index in ``[0, n)`` and becomes a one-hot
    vector of ``n`` features; then the observation's axes are flattened and cast to float32.
    """
    x = jnp.asarray(obs)
    if num_categories:
        x = jax.nn.one_hot(x, num_categories, dtype=jnp.float32)
        obs_ndim += 1
    return jnp.reshape(x, (*x.shape[: x.ndim - obs_ndim], -1)).astype(jnp.float32)


class MLP(nn.Module):
    """Flattens the last ``obs_ndim`` axes of its input (leading axes are batch), then
    Dense layers of ``hidden`` sizes with ``act`` between, then a final Dense of ``out``
    units (no activation). ``orthogonal=True`` uses orthogonal init
    (``orthogonal_initializer``: flax's values, safe under ``vmap``) with gain sqrt(2)
    (hidden) and ``out_scale`` (output), zero biases, the PPO-style choice; otherwise
    flax's default (lecun normal). ``obs_categories > 0`` one-hot encodes a Discrete
    observation first (``encode_observation``). ``torso="conv"``: the conv torso
    (``conv_features``) reads the image observation before the Dense layers."""

    hidden: Sequence[int]
    out: int
    act: str = "relu"
    orthogonal: bool = False
    out_scale: float = 1.0
    obs_ndim: int = 1
    obs_categories: int = 0
    torso: str = "mlp"  # "mlp" or "conv" (resolved: see choose_torso)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.torso == "conv":
            init = orthogonal_initializer(np.sqrt(2.0)) if self.orthogonal else None
            x = conv_features(jnp.asarray(x, jnp.float32), self.obs_ndim, init)
        else:
            x = encode_observation(x, self.obs_ndim, self.obs_categories)
        act = activation(self.act)
        for width in self.hidden:
            x = act(self._dense(width, np.sqrt(2.0))(x))
        return self._dense(self.out, self.out_scale)(x)

    def _dense(self, width: int, scale: float) -> nn.Dense:
        if self.orthogonal:
            return nn.Dense(
                width, kernel_init=orthogonal_initializer(scale),
                bias_init=nn.initializers.zeros,
            )
        return nn.Dense(width)


def concrete_spaces(env: Any, env_params: Any) -> tuple[Any, Any]:
    """``(action_space, observation_space)`` built from concrete numbers, even inside a trace.

    A sweep calls ``make`` under ``vmap`` and gymnax computes some bounds with ``jnp`` ops;
    if the params themselves are traced (vmapped env params), the default params' spaces
    are used (shapes and counts never depend on params).
    """
    with jax.ensure_compile_time_eval():
        try:
            return env.action_space(env_params), env.observation_space(env_params)
        except jax.errors.TracerArrayConversionError:
            return env.action_space(None), env.observation_space(None)


def attention_weights(network: nn.Module, params: Any, obs: jax.Array) -> jax.Array:
    """The self-attention weights a network with the relational torso computed for ``obs``
    (``float32[..., heads, N, N]``, see ``relational_features``); a ``ValueError`` when the
    network has no attention."""
    _, state = network.apply(params, obs, mutable=["intermediates"])
    found = state.get("intermediates", {}).get("attention")
    if found is None:
        raise ValueError(f"{type(network).__name__} has no attention weights "
                         f"(only the relational torso records them)")
    return found[0]
