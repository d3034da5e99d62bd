r"""Radiometric terrain flattening geometry (Vollrath, Mullissa & Reiche 2020), written once.

The same functions run server-side on ``ee.Image`` objects and locally on NumPy arrays: they
only call methods that ``ee.Image`` has (``add``, ``subtract``, ``multiply``, ``divide``, ``sin``,
``cos``, ``tan``, ``atan``, ``acos``, ``gte``, ``lte``, ``where``), and :class:`NumpyImage`
provides those names for arrays. The Earth Engine recipe therefore ships exactly the code that
the unit tests check, and the scene simulator uses it for its local incidence angle and masks.

All angles are radians. Symbols follow the paper (original formulation, ESA-PhiLab
``radiometric-slope-correction``):

.. math::

    \phi_r &= \phi_i - \phi_s \\
    \alpha_r &= \arctan(\tan\alpha_s \cos\phi_r) \qquad \text{(slope in range)} \\
    \alpha_{az} &= \arctan(\tan\alpha_s \sin\phi_r) \qquad \text{(slope in azimuth)} \\
    \theta_{lia} &= \arccos(\cos\alpha_{az}\cos(\theta_i - \alpha_r)) \\
    K_{vol} &= \tan(90^\circ - \theta_i + \alpha_r) / \tan(90^\circ - \theta_i) \\
    K_{surf} &= \cos(90^\circ - \theta_i) / (\cos\alpha_{az}\cos(90^\circ - \theta_i + \alpha_r)) \\
    \gamma^0 &= \sigma^0 / \cos\theta_i, \qquad \gamma^0_{flat} = \gamma^0 / K \\
    \text{layover} &: \alpha_r \ge \theta_i, \qquad \text{shadow}: \alpha_r \le -(90^\circ - \theta_i)

``theta_i`` is the ellipsoid incidence angle; ``phi_i`` the azimuth, clockwise from north, of
the ground direction pointing from the target towards the sensor (the aspect of the S1 ``angle``
band, because the incidence angle grows away from the sensor); ``alpha_s`` and ``phi_s`` are the
DEM slope and aspect (aspect = the direction the slope faces, clockwise from north). For a
descending pass with heading -167 deg, a right-looking sensor looks towards -77 deg, so
``phi_i`` is about 103 deg: east-south-east facing slopes face the sensor.

Note: the popular ``gee_s1_ard`` port (after 2021) negates the DEM aspect and multiplies by K;
that variant is not the paper's and is not used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

HALF_PI = math.pi / 2
DEG = math.pi / 180.0


class ImageLike(Protocol):
    """The subset of ``ee.Image`` methods the geometry needs."""

    def add(self, other: Any) -> Any: ...
    def subtract(self, other: Any) -> Any: ...
    def multiply(self, other: Any) -> Any: ...
    def divide(self, other: Any) -> Any: ...
    def sin(self) -> Any: ...
    def cos(self) -> Any: ...
    def tan(self) -> Any: ...
    def atan(self) -> Any: ...
    def acos(self) -> Any: ...
    def gte(self, other: Any) -> Any: ...
    def lte(self, other: Any) -> Any: ...
    def where(self, test: Any, value: Any) -> Any: ...


Img = TypeVar("Img", bound=ImageLike)


class NumpyImage:
    """A NumPy array that answers to the ``ee.Image`` method names used by this module."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = np.asarray(array, dtype=np.float64)

    @staticmethod
    def _raw(other: Any) -> Any:
        return other.array if isinstance(other, NumpyImage) else other

    def add(self, other: Any) -> NumpyImage:
        return NumpyImage(self.array + self._raw(other))

    def subtract(self, other: Any) -> NumpyImage:
        return NumpyImage(self.array - self._raw(other))

    def multiply(self, other: Any) -> NumpyImage:
        return NumpyImage(self.array * self._raw(other))

    def divide(self, other: Any) -> NumpyImage:
        with np.errstate(divide="ignore", invalid="ignore"):
            return NumpyImage(self.array / self._raw(other))

    def sin(self) -> NumpyImage:
        return NumpyImage(np.sin(self.array))

    def cos(self) -> NumpyImage:
        return NumpyImage(np.cos(self.array))

    def tan(self) -> NumpyImage:
        return NumpyImage(np.tan(self.array))

    def atan(self) -> NumpyImage:
        return NumpyImage(np.arctan(self.array))

    def acos(self) -> NumpyImage:
        # ee clamps nothing either; clip only the rounding excursions just beyond +-1
        return NumpyImage(np.arccos(np.clip(self.array, -1.0, 1.0)))

    def gte(self, other: Any) -> NumpyImage:
        return NumpyImage(self.array >= self._raw(other))

    def lte(self, other: Any) -> NumpyImage:
        return NumpyImage(self.array <= self._raw(other))

    def where(self, test: Any, value: Any) -> NumpyImage:
        """Like ``ee.Image.where``: take ``value`` where ``test`` is non-zero."""
        return NumpyImage(np.where(self._raw(test) != 0, self._raw(value), self.array))


@dataclass(frozen=True)
class SlopeGeometry:
    """Slope components in the radar frame and the local incidence angle (radians)."""

    alpha_r: Any
    alpha_az: Any
    lia: Any


def slope_geometry(theta_i: Img, phi_i: Img, alpha_s: Img, phi_s: Img) -> SlopeGeometry:
    """Range and azimuth slope angles and the local incidence angle."""
    phi_r = phi_i.subtract(phi_s)
    tan_slope = alpha_s.tan()
    alpha_r = tan_slope.multiply(phi_r.cos()).atan()
    alpha_az = tan_slope.multiply(phi_r.sin()).atan()
    lia = alpha_az.cos().multiply(theta_i.subtract(alpha_r).cos()).acos()
    return SlopeGeometry(alpha_r=alpha_r, alpha_az=alpha_az, lia=lia)


def volume_model_k(theta_i: Img, alpha_r: Img) -> Img:
    """Vollrath volume-scattering model: K = tan(90 - theta_i + alpha_r) / tan(90 - theta_i)."""
    nominator = theta_i.multiply(-1).add(HALF_PI).add(alpha_r).tan()
    denominator = theta_i.multiply(-1).add(HALF_PI).tan()
    return nominator.divide(denominator)


def surface_model_k(theta_i: Img, alpha_r: Img, alpha_az: Img) -> Img:
    """Vollrath surface model: K = cos(90 - theta_i) / (cos(alpha_az) cos(90 - theta_i + alpha_r))."""
    nominator = theta_i.multiply(-1).add(HALF_PI).cos()
    denominator = alpha_az.cos().multiply(theta_i.multiply(-1).add(HALF_PI).add(alpha_r).cos())
    return nominator.divide(denominator)


def layover_mask(theta_i: Img, alpha_r: Img) -> Img:
    """1 where the slope towards the sensor is at least the incidence angle (alpha_r >= theta_i)."""
    return alpha_r.gte(theta_i)


def shadow_mask(theta_i: Img, alpha_r: Img) -> Img:
    """1 where the slope away from the sensor hides the ground: alpha_r <= -(90 - theta_i)."""
    return alpha_r.lte(theta_i.add(-HALF_PI))


def flattening_factor(
    theta_i: Img, geometry: SlopeGeometry, surface_mask: Any | None = None
) -> Img:
    """K per pixel: the volume model, replaced by the surface model where ``surface_mask`` is 1.

    The paper chose the model per land-cover type; pass ``surface_mask`` = land-cover classes
    whose scattering is surface-like (urban, bare rock, water, snow, sparse vegetation).
    """
    k = volume_model_k(theta_i, geometry.alpha_r)
    if surface_mask is None:
        return k
    return k.where(surface_mask, surface_model_k(theta_i, geometry.alpha_r, geometry.alpha_az))


def gamma0_flat(sigma0_linear: Img, theta_i: Img, k: Img) -> Img:
    """Terrain-flattened gamma nought: sigma0 / cos(theta_i) / K (linear power)."""
    return sigma0_linear.divide(theta_i.cos()).divide(k)


def sigma0_from_gamma0(gamma0_linear: Img, theta_i: Img, k: Img) -> Img:
    """The forward model the flattening inverts: sigma0 = gamma0 * cos(theta_i) * K.

    Used by the scene simulator to give slopes the brightness a real acquisition would have.
    """
    return gamma0_linear.multiply(theta_i.cos()).multiply(k)


def look_azimuth_deg(heading_deg: float, right_looking: bool = True) -> float:
    """Azimuth (deg, clockwise from north) the antenna looks towards, from the platform heading."""
    return (heading_deg + (90.0 if right_looking else -90.0)) % 360.0


def sensor_azimuth_deg(heading_deg: float, right_looking: bool = True) -> float:
    """``phi_i``: azimuth of the ground direction from a target towards the sensor."""
    return (look_azimuth_deg(heading_deg, right_looking) + 180.0) % 360.0
