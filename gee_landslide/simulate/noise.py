"""Counter-based random numbers and lattice noise defined on world coordinates.

Everything the simulator draws is a pure function of integer keys (a seed, a purpose tag, the
global pixel lattice position, an acquisition number, ...) passed through a 64-bit mixing
hash (the SplitMix64 finaliser). There is no random-generator *state*: the value at a pixel
does not depend on which tile, or in which order, the pixel is computed, which is what makes
adjacent monitoring tiles mosaic into exactly the scene of their union grid.

Lattice noise is 2-D gradient (Perlin) noise: pseudo-random unit gradients on a square lattice
of spacing ``wavelength`` metres, hashed from (key, octave, i, j), blended with the quintic fade
``6t^5 - 15t^4 + 10t^3``. Fractional Brownian motion sums octaves with amplitude
``wavelength ** hurst``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_INV53 = 1.0 / float(1 << 53)
PERLIN_SD = 0.22  # empirical sd of one octave of 2-D gradient noise (used to normalise to ~N(0, 1))


def stable_key(*parts: object) -> int:
    """A stable 63-bit integer from strings/numbers (never Python's salted ``hash``)."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def _u64(k: object) -> np.ndarray:
    if isinstance(k, str):
        k = stable_key(k)
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return np.asarray(int(k) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    a = np.asarray(k)
    if a.dtype == np.uint64:
        return a
    if a.dtype.kind == "f":
        a = np.floor(a)
    return a.astype(np.int64).astype(np.uint64)


def mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (a bijection on 64-bit words with full avalanche)."""
    with np.errstate(over="ignore"):
        h = h + _GOLDEN
        h = (h ^ (h >> _S30)) * _M1
        h = (h ^ (h >> _S27)) * _M2
        return h ^ (h >> _S31)


def hash_u64(*keys: object) -> np.ndarray:
    """Hash any number of broadcastable integer keys into uint64 words."""
    h = np.asarray(np.uint64(0x2545F4914F6CDD1D))
    for k in keys:
        h = mix(h ^ _u64(k))
    return h


def to_uniform(h: np.ndarray) -> np.ndarray:
    """uint64 words -> float64 uniform in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * _INV53


def uniform(*keys: object) -> np.ndarray:
    return to_uniform(hash_u64(*keys))


def uniform_pair(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uniforms in (0, 1) from one 64-bit word (32 bits each)."""
    lo = (h & np.uint64(0xFFFFFFFF)).astype(np.float64)
    hi = (h >> np.uint64(32)).astype(np.float64)
    return (lo + 0.5) / 4294967296.0, (hi + 0.5) / 4294967296.0


def normal_from_hash(h: np.ndarray) -> np.ndarray:
    """Standard normal by Box-Muller from one 64-bit word."""
    u1, u2 = uniform_pair(h)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def normal(*keys: object) -> np.ndarray:
    return normal_from_hash(hash_u64(*keys))


def scalar_uniform(*keys: object) -> float:
    return float(uniform(*keys))


def scalar_normal(*keys: object) -> float:
    return float(normal(*keys))


def poisson_from_uniform(u: np.ndarray, lam: float, kmax: int = 30) -> np.ndarray:
    """Poisson(lam) counts by inverse CDF of uniforms (small lam)."""
    u = np.asarray(u, dtype=np.float64)
    out = np.zeros(u.shape, dtype=np.int64)
    p = np.exp(-lam)
    cdf = p
    for k in range(1, kmax + 1):
        out += (u > cdf).astype(np.int64)
        p *= lam / k
        cdf += p
    return out


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def gradient_noise(x: np.ndarray, y: np.ndarray, wavelength: float, key: int) -> np.ndarray:
    """One octave of 2-D gradient noise at the outer product of ``y`` (rows) and ``x`` (cols).

    ``x`` and ``y`` are 1-D world coordinates in metres; the result has shape (len(y), len(x)).
    The value at (x, y) depends only on (x, y, wavelength, key).
    """
    fx_all = np.asarray(x, dtype=np.float64) / wavelength
    fy_all = np.asarray(y, dtype=np.float64) / wavelength
    i0 = np.floor(fx_all).astype(np.int64)
    j0 = np.floor(fy_all).astype(np.int64)
    fx = fx_all - i0
    fy = fy_all - j0
    imin, jmin = int(i0.min()), int(j0.min())
    ii = np.arange(imin, int(i0.max()) + 2, dtype=np.int64)
    jj = np.arange(jmin, int(j0.max()) + 2, dtype=np.int64)
    ang = 2.0 * np.pi * uniform(key, jj[:, None], ii[None, :])
    gxt, gyt = np.cos(ang), np.sin(ang)
    ci = i0 - imin
    cj = (j0 - jmin)[:, None]
    ci0, ci1 = ci[None, :], ci[None, :] + 1
    dx0, dx1 = fx[None, :], fx[None, :] - 1.0
    dy0, dy1 = fy[:, None], fy[:, None] - 1.0
    n00 = gxt[cj, ci0] * dx0 + gyt[cj, ci0] * dy0
    n10 = gxt[cj, ci1] * dx1 + gyt[cj, ci1] * dy0
    n01 = gxt[cj + 1, ci0] * dx0 + gyt[cj + 1, ci0] * dy1
    n11 = gxt[cj + 1, ci1] * dx1 + gyt[cj + 1, ci1] * dy1
    sx = _fade(fx)[None, :]
    sy = _fade(fy)[:, None]
    a = n00 + sx * (n10 - n00)
    b = n01 + sx * (n11 - n01)
    return a + sy * (b - a)


def fbm(
    x: np.ndarray,
    y: np.ndarray,
    key: int,
    wavelengths: Sequence[float],
    hurst: float = 0.8,
) -> np.ndarray:
    """Fractional Brownian motion, normalised to about unit standard deviation."""
    total = np.zeros((len(y), len(x)), dtype=np.float64)
    norm = 0.0
    for o, lam in enumerate(wavelengths):
        amp = float(lam) ** hurst
        total += amp * gradient_noise(x, y, float(lam), stable_key(key, "octave", o))
        norm += amp * amp
    return total / (PERLIN_SD * np.sqrt(norm))


def octaves(longest: float, shortest: float) -> list[float]:
    """Wavelengths halving from ``longest`` down to at least ``shortest``."""
    out = [float(longest)]
    while out[-1] / 2.0 >= shortest:
        out.append(out[-1] / 2.0)
    return out
