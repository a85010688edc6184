"""Pictures of environment states, drawn on the host (NumPy and Pillow, never jitted).

The helpers behind the environments' ``render_image(state, params=None)`` (the contract
is in ``envs.core.Environment``'s docstring): classic-control scenes shared by jaxrl's own
CartPole and MountainCar and gymnax's versions (``envs.registry.GymnaxEnv``), gymnax's
Acrobot and Pendulum, image observations as coloured cells, and boards of tiles.

Every function returns ``uint8[H, W, 3]``. Pillow is imported inside the functions that
need it, so importing ``jaxrl.envs`` never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

FRAME_SIZE = (600, 400)  # classic-control scenes, (width, height) in pixels

# Image observations: one colour per channel (the first active channel wins a cell).
PALETTE = [(255, 215, 0), (230, 57, 70), (69, 123, 240), (46, 196, 100), (255, 140, 0),
           (170, 90, 240), (0, 200, 200), (255, 105, 180), (150, 150, 150), (160, 110, 60),
           (240, 240, 240), (120, 200, 60), (0, 120, 120), (200, 160, 255), (255, 180, 120),
           (90, 90, 160)]
BACKGROUND = (18, 18, 28)
MARGIN = 6  # pixels above (and below) the board in ``planes``


def font(size: int, mono: bool = False) -> Any:
    """DejaVu (shipped with matplotlib) at ``size`` px, else Pillow's own font at that size."""
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name),
                                  size)
    except (ImportError, OSError):
        try:
            return ImageFont.load_default(size)
        except TypeError:  # Pillow < 10.1: one fixed size
            return ImageFont.load_default()


def _canvas(size: tuple[int, int] = FRAME_SIZE, colour: Any = "white") -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, colour)
    return img, ImageDraw.Draw(img)


def _array(img: Any) -> np.ndarray:
    return np.asarray(img.convert("RGB"), np.uint8).copy()


def scalar(x: Any) -> float:
    """One unbatched state number as a Python float (ValueError for a batch)."""
    a = np.asarray(x)
    if a.size != 1:
        raise ValueError(f"render_image draws one unbatched state, got a field of shape {a.shape}")
    return float(a.reshape(()))


# --------------------------------------------------------------------------- classic control
def cartpole(x: float, theta: float, x_threshold: float, length: float) -> np.ndarray:
    """The cart on its track (red marks at +-``x_threshold``) and the pole (half-length
    ``length``) at angle ``theta`` from upright."""
    img, d = _canvas()
    w, _ = img.size
    scale = w / (2 * x_threshold)
    track_y = 300
    d.line([(0, track_y), (w, track_y)], fill="black", width=1)
    for edge in (-x_threshold, x_threshold):
        ex = edge * scale + w / 2
        d.line([(ex, track_y - 10), (ex, track_y + 10)], fill="red", width=2)
    cx = x * scale + w / 2
    cw, ch = 50, 30
    d.rectangle([cx - cw / 2, track_y - ch / 2, cx + cw / 2, track_y + ch / 2], fill="black")
    pole = scale * 2 * length
    axle = (cx, track_y - ch / 4)
    top = (cx + pole * np.sin(theta), axle[1] - pole * np.cos(theta))
    d.line([axle, top], fill=(202, 152, 101), width=10)
    d.ellipse([cx - 5, axle[1] - 5, cx + 5, axle[1] + 5], fill=(129, 132, 203))
    return _array(img)


def mountain_car(position: float, min_position: float, max_position: float,
                 goal_position: float) -> np.ndarray:
    """The hill ``sin(3 p)`` from ``min_position`` to ``max_position``, the flag at
    ``goal_position`` and the car at ``position``."""
    img, d = _canvas()
    w, h = img.size
    lo, hi = min_position, max_position
    scale = w / (hi - lo)

    def to_px(p: float) -> tuple[float, float]:
        return (p - lo) * scale, h - 40 - (np.sin(3 * p) * 0.45 + 0.55) * scale * 0.8

    d.line([to_px(p) for p in np.linspace(lo, hi, 200)], fill="black", width=2)
    gx, gy = to_px(goal_position)
    d.line([(gx, gy), (gx, gy - 40)], fill="black", width=2)
    d.polygon([(gx, gy - 40), (gx + 25, gy - 33), (gx, gy - 26)], fill=(204, 204, 0))
    px, py = to_px(position)
    d.ellipse([px - 12, py - 24, px + 12, py], fill=(60, 60, 200))
    return _array(img)


def acrobot(angle1: float, angle2: float, length1: float, length2: float) -> np.ndarray:
    """Two links hanging from a pivot (angles from straight down), and the goal line one
    link length above the pivot."""
    img, d = _canvas()
    w, h = img.size
    scale = (h / 2 - 30) / (length1 + length2)
    cx, cy = w / 2, h / 2 + 15
    p1 = (cx + scale * length1 * np.sin(angle1), cy + scale * length1 * np.cos(angle1))
    p2 = (p1[0] + scale * length2 * np.sin(angle1 + angle2),
          p1[1] + scale * length2 * np.cos(angle1 + angle2))
    goal_y = cy - scale * 1.0  # the tip must rise one link length above the pivot
    d.line([(40, goal_y), (w - 40, goal_y)], fill=(60, 160, 60), width=2)
    d.text((w - 130, goal_y - 18), "goal height", fill=(60, 160, 60), font=font(12))
    for a, b in (((cx, cy), p1), (p1, p2)):
        d.line([a, b], fill=(0, 204, 204), width=12)
    for px, py in ((cx, cy), p1):
        d.ellipse([px - 7, py - 7, px + 7, py + 7], fill=(204, 204, 0))
    return _array(img)


def pendulum(theta: float, last_torque: float, max_torque: float) -> np.ndarray:
    """The rod at ``theta`` (0 upright) and a bar of the last torque applied."""
    img, d = _canvas()
    w, h = img.size
    cx, cy = w / 2, h / 2 + 15
    rod = h / 2 - 50
    tip = (cx - rod * np.sin(theta), cy - rod * np.cos(theta))
    d.ellipse([cx - rod, cy - rod, cx + rod, cy + rod], outline=(220, 220, 220))
    d.line([(cx, cy), tip], fill=(204, 77, 77), width=14)
    d.ellipse([cx - 6, cy - 6, cx + 6, cy + 6], fill="black")
    bar = 120 * last_torque / max(max_torque, 1e-6)
    d.rectangle([cx, h - 30, cx + bar, h - 18] if bar >= 0 else [cx + bar, h - 30, cx, h - 18],
                fill=(77, 77, 204))
    d.text((cx - 60, h - 16), "torque (last)", fill="black", font=font(11))
    return _array(img)


# --------------------------------------------------------------------------- image observations
def planes(obs: Any, names: Sequence[str] = (), low: float | None = None,
           high: float | None = None) -> np.ndarray:
    """An image observation as coloured cells.

    ``[H, W, C]`` channel planes: each cell takes the colour of its first active channel
    (``PALETTE[c]``; MinAtar puts the player in channel 0) on a dark ground, with a
    legend naming the channels (``names``, else ``channel k``). ``[H, W]``: grey levels
    from ``low`` (black) to ``high`` (white), the observation's own range when not given.
    Cells are ``max(6, min(48, 520 // W, 360 // H))`` pixels, with a faint grid from 12;
    the board sits centred ``MARGIN`` pixels below the top of a picture at least 480 wide.
    """
    from PIL import Image, ImageDraw

    obs = np.asarray(obs, np.float64)
    if obs.ndim not in (2, 3):
        raise ValueError(f"planes draws an [H, W] or [H, W, C] observation, got {obs.shape}")
    rows, cols = obs.shape[:2]
    channels = obs.shape[2] if obs.ndim == 3 else 1
    cell = plane_cell(rows, cols)
    legend_rows = 0 if obs.ndim == 2 else -(-channels // 4)
    width = max(cols * cell, 480)
    top, legend_h = MARGIN, 20 * legend_rows + MARGIN
    height = top + rows * cell + legend_h
    left = (width - cols * cell) // 2
    if obs.ndim == 2:
        lo = float(obs.min()) if low is None or not np.isfinite(low) else float(low)
        hi = float(obs.max()) if high is None or not np.isfinite(high) else float(high)
        span = hi - lo if hi > lo else 1.0
        level = (255 * (obs - lo) / span).clip(0, 255).astype(np.uint8)
        rgb = np.repeat(level[..., None], 3, axis=-1)
    else:
        colours = np.array([PALETTE[k % len(PALETTE)] for k in range(channels)], np.uint8)
        on = obs > 0
        which = np.argmax(on, axis=-1)
        rgb = np.where(on.any(axis=-1)[..., None], colours[which], np.uint8(BACKGROUND))
    board = Image.fromarray(rgb.astype(np.uint8)).resize(
        (cols * cell, rows * cell), Image.NEAREST)
    img = Image.new("RGB", (width, height), BACKGROUND)
    img.paste(board, (left, top))
    d = ImageDraw.Draw(img)
    if cell >= 12:  # a faint grid shows the cells
        for c in range(cols + 1):
            d.line([(left + c * cell, top), (left + c * cell, top + rows * cell)],
                   fill=(40, 40, 55))
        for r in range(rows + 1):
            d.line([(left, top + r * cell), (left + cols * cell, top + r * cell)],
                   fill=(40, 40, 55))
    small = font(13)
    for k in range(channels if legend_rows else 0):
        r, c = divmod(k, 4)
        x, y = 8 + c * (width // 4), top + rows * cell + 6 + 20 * r
        d.rectangle([x, y + 2, x + 12, y + 14], fill=PALETTE[k % len(PALETTE)])
        d.text((x + 18, y), names[k] if k < len(names) else f"channel {k}", fill="white",
               font=small)
    return _array(img)


def plane_cell(rows: int, cols: int) -> int:
    """The cell size ``planes`` uses for a ``rows x cols`` observation."""
    return int(max(6, min(48, 520 // cols, 360 // rows)))


def is_image_shape(shape: Sequence[int]) -> bool:
    """Does an observation of this shape look like an image ``planes`` can draw?
    (``[H, W]`` or ``[H, W, C]`` with both sides at least 3 and at most 16 channels.)"""
    shape = tuple(shape)
    return len(shape) in (2, 3) and min(shape[:2]) >= 3 and (len(shape) == 2 or shape[2] <= 16)


# --------------------------------------------------------------------------- boards of tiles
def tiles(rows: int, cols: int, tile: int, background: Any = (250, 250, 248),
          grid: Any = (210, 210, 205)) -> np.ndarray:
    """An empty board ``uint8[rows * tile + 1, cols * tile + 1, 3]`` with grid lines."""
    img = np.empty((rows * tile + 1, cols * tile + 1, 3), np.uint8)
    img[:] = background
    img[::tile, :] = grid
    img[:, ::tile] = grid
    return img


def fill_cell(img: np.ndarray, r: int, c: int, tile: int, colour: Any, inset: int = 1) -> None:
    """Paint cell ``(r, c)`` of a ``tiles`` board, ``inset`` pixels inside its grid lines."""
    img[r * tile + inset:(r + 1) * tile + 1 - inset, c * tile + inset:(c + 1) * tile + 1 - inset] \
        = colour


def disc(img: np.ndarray, r: int, c: int, tile: int, colour: Any, radius: float = 0.32,
         ring: float = 0.0) -> None:
    """A filled disc (or a ring ``ring`` tiles thick) centred in cell ``(r, c)``."""
    yy, xx = np.mgrid[0:tile, 0:tile] + 0.5
    dist = np.hypot(yy - tile / 2, xx - tile / 2) / tile
    mask = dist < radius if ring <= 0 else (dist < radius) & (dist >= radius - ring)
    block = img[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile]
    block[mask[:block.shape[0], :block.shape[1]]] = colour
