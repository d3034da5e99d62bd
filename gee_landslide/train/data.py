"""Training data: stacks in memory, per-band normalisation, the NaN policy, smart crops.

Normalisation (computed on the TRAINING events only, stored with every run and ensemble):

- continuous bands: ``(x - mean) / std`` with NaN-robust mean/std over all training pixels;
- mask bands (layover, shadow): kept as 0/1 (mean 0, std 1);
- categorical bands (KG_climate, CART_LC_classified), two encodings (``categorical``):

  - ``scaled`` (the paper feeds the band as it is): the class code divided by the largest code
    seen in training, i.e. about [0, 1]. The codes are not ordered, so a network has to carve
    each class out of a ramp before it can give it its own rule;
  - ``onehot``: one 0/1 channel per class of the band's fixed class table (band 13: the nine
    codes of :data:`gee_landslide.core.landcover.LAND_COVER`; band 11: the 31 Köppen-Geiger
    indices), so the channel count never depends on the classes a scene holds. A first
    convolution then gives each class its own offset, which is what a per-pixel model does with
    the code (boosted trees split on it). NaN gives all-zero channels.

NaN policy (identical in training and inference, :meth:`Normalisation.apply`): after
normalisation every NaN becomes 0, i.e. the band's training mean. Padding added by
:func:`gee_landslide.train.constraints.pad_scene` is NaN and so follows the same rule.

The sampler keeps every training scene in memory as a normalised float32 array and cuts
crops with NumPy, so the model, not the data, bounds the step time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from gee_landslide.core.bands import BAND_NAMES, BANDS, Setting
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.stackio import META_FILE, read_stack
from gee_landslide.earthengine.classes import KOPPEN_GEIGER, LAND_COVER_CODES
from gee_landslide.train.constraints import Padded, pad_scene


class MissingStacksError(GeeLandslideError, FileNotFoundError):
    """Stacks needed for training are not on disk."""


# ----------------------------------------------------------------------------- normalisation
CATEGORICAL_ENCODINGS = ("scaled", "onehot")
# the fixed class table of each categorical band: one-hot channels, in this order
CLASS_CODES: dict[str, tuple[int, ...]] = {
    "CART_LC_classified": LAND_COVER_CODES,
    "KG_climate": tuple(c.index for c in KOPPEN_GEIGER),
}


@dataclass(frozen=True)
class Normalisation:
    """Per-band scaling of a setting's bands, and the encoding of its categorical bands.

    ``onehot`` lists the categorical bands given as one 0/1 channel per class, with their class
    codes; the model then sees :attr:`out_channels` channels, in :attr:`channel_names` order.
    """

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    onehot: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The model's input channels: a band, or ``band=code`` for each class of a one-hot band."""
        hot = dict(self.onehot)
        return tuple(n for b in self.bands for n in ([f"{b}={k}" for k in hot[b]] if b in hot else [b]))

    @property
    def out_channels(self) -> int:
        return len(self.channel_names)

    @classmethod
    def compute(cls, scenes: Sequence[np.ndarray], bands: Sequence[str],
                categorical: str = "scaled") -> Normalisation:
        """From (C,H,W) training scenes whose channels are ``bands``; ``categorical`` is
        ``scaled`` or ``onehot`` (see the module docstring)."""
        if categorical not in CATEGORICAL_ENCODINGS:
            raise ValueError(f"categorical encoding {categorical!r}: use one of {', '.join(CATEGORICAL_ENCODINGS)}")
        means, stds = [], []
        for c, name in enumerate(bands):
            kind = BANDS[BAND_NAMES.index(name)].kind
            vals = np.concatenate([s[c].ravel() for s in scenes]).astype(np.float64)
            vals = vals[np.isfinite(vals)]
            if kind == "mask":
                m, sd = 0.0, 1.0
            elif kind == "categorical":
                top = float(vals.max()) if vals.size else 1.0
                m, sd = 0.0, max(top, 1.0)
            else:
                m = float(vals.mean()) if vals.size else 0.0
                sd = float(vals.std()) if vals.size else 1.0
                sd = sd if sd > 1e-6 else 1.0
            means.append(m)
            stds.append(sd)
        hot = tuple((b, CLASS_CODES[b]) for b in bands if categorical == "onehot" and b in CLASS_CODES)
        return cls(tuple(bands), tuple(means), tuple(stds), hot)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Normalise a (C,H,W) array in this object's band order; NaN -> 0 (the band mean)."""
        if image.shape[0] != len(self.bands):
            raise ValueError(f"expected {len(self.bands)} channels ({self.bands}), got {image.shape[0]}")
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        inv = (1.0 / np.asarray(self.std, np.float32))[:, None, None]
        out = (image.astype(np.float32, copy=False) - mean) * inv
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if not self.onehot:
            return out
        hot = dict(self.onehot)
        parts = []
        for c, b in enumerate(self.bands):
            if b in hot:  # NaN equals no code: all channels 0
                parts.extend((image[c] == k).astype(np.float32) for k in hot[b])
            else:
                parts.append(out[c])
        return np.stack(parts)

    def select(self, stack15: np.ndarray) -> np.ndarray:
        """This normalisation's bands out of a full (15,H,W) stack, in order."""
        if stack15.ndim != 3 or stack15.shape[0] != len(BAND_NAMES):
            raise ValueError(f"expected a (15,H,W) stack, got shape {stack15.shape}")
        return stack15[[BAND_NAMES.index(b) for b in self.bands]]

    def to_dict(self) -> dict:
        d: dict = {"bands": list(self.bands), "mean": list(self.mean), "std": list(self.std)}
        if self.onehot:  # absent for scaled codes, so older runs and manifests keep their digest
            d["onehot"] = {b: list(codes) for b, codes in self.onehot}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Normalisation:
        hot = tuple((str(b), tuple(int(k) for k in codes)) for b, codes in d.get("onehot", {}).items())
        return cls(tuple(d["bands"]), tuple(float(x) for x in d["mean"]), tuple(float(x) for x in d["std"]), hot)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def prepare(raw: np.ndarray, norm: Normalisation, min_size: int = 0, multiple: int = 1,
            labels: np.ndarray | None = None) -> Padded:
    """Pad (NaN) then normalise (NaN -> 0): the single input path of training and inference."""
    padded = pad_scene(raw, labels, min_size=min_size, multiple=multiple)
    padded.image = norm.apply(padded.image)
    return padded


# ----------------------------------------------------------------------------- scenes in memory
@dataclass(frozen=True)
class Scene:
    event_id: str
    stack: np.ndarray  # (15,H,W) float32 with NaN
    labels: np.ndarray  # (H,W) uint8


_CACHE: dict[tuple[str, float], Scene] = {}
_CACHE_LOCK = threading.Lock()


def load_scene(stacks_dir: Path, event_id: str) -> Scene:
    """One event's full stack and labels, cached in memory (keyed by path and meta.json mtime)."""
    d = Path(stacks_dir) / event_id
    meta = d / META_FILE
    if not meta.exists():
        raise MissingStacksError(f"no complete stack for event {event_id!r} in {d}")
    key = (str(d.resolve()), meta.stat().st_mtime)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    st = read_stack(d)
    if st.labels is None:
        raise MissingStacksError(f"event {event_id!r} has no labels.tif in {d}")
    scene = Scene(event_id, np.ascontiguousarray(st.data, np.float32), st.labels.astype(np.uint8))
    with _CACHE_LOCK:
        _CACHE[key] = scene
    return scene


def require_stacks(stacks_dir: Path, stack_ids: Sequence[str]) -> None:
    """Raise :class:`MissingStacksError` naming every missing stack and the command that builds it
    (with ``--s1-post-looks N`` for missing Sentinel-1 variants, :mod:`gee_landslide.core.variants`).

    Why one function: the sweep checks before any training and ``load_scenes`` checks whatever
    else asks for stacks (ensembles, the report); both should tell a user the same fix."""
    from gee_landslide.core.variants import parse_variant

    wanted = list(dict.fromkeys(stack_ids))
    missing = [e for e in wanted if not (Path(stacks_dir) / e / META_FILE).exists()]
    if missing:
        looks = sorted({n for n in (parse_variant(e)[1] for e in missing) if n})
        variants = "".join(f" --s1-post-looks {n}" for n in looks)
        raise MissingStacksError(
            f"{len(missing)} of {len(wanted)} stacks are missing in {stacks_dir}: {', '.join(missing)}. "
            f"Build them first: `gee-landslide stacks build --source simulated{variants}`."
        )


def load_scenes(stacks_dir: Path, event_ids: Sequence[str]) -> list[Scene]:
    """The scenes of ``event_ids`` (all present, else :func:`require_stacks`'s error)."""
    require_stacks(stacks_dir, event_ids)
    return [load_scene(stacks_dir, e) for e in event_ids]


def normalisation_for(setting_: Setting, train_scenes: Sequence[Scene], categorical: str = "scaled") -> Normalisation:
    idx = list(setting_.band_indices)
    return Normalisation.compute([s.stack[idx] for s in train_scenes], setting_.band_names, categorical)


# ----------------------------------------------------------------------------- smart crops
AUGMENTS = ("rot90", "dihedral", "radiometric")
# the change bands whose strength differs from event to event (season, vegetation, soil moisture)
GAIN_BANDS = ("dNDVI", "dVV", "dVH")
GAIN_RANGE = (0.6, 1.4)


class CropSampler:
    """Random ``crop x crop`` windows that contain at least one landslide pixel, augmented.

    Scenes smaller than the crop are padded once (NaN -> 0, labels 0). An event is drawn
    uniformly among those with landslide pixels, then one of its landslide pixels, then a window
    holding that pixel. Every batch is full (``drop_last``: BatchNorm never sees a batch of 1).

    ``object_share``: the fraction of crops centred instead on a landslide *object* drawn
    uniformly from all training events (then a pixel of it). Why: drawing the event first and
    then a pixel gives nearly every crop to the one large slide that most simulated events
    hold; the two training events of many thin debris flows (2-3 px wide, 3/4 of their pixels on
    an edge) got 1/8 of the crops, and the networks learned a blob prior that missed the thin
    flows of norway-5 (edge-pixel recall 0.60 against 0.88 for boosted trees on the same bands).

    ``background_share``: the fraction of crops at a uniformly drawn window of a uniformly drawn
    training scene, landslide or not (drawn before ``object_share``). Why: a monitoring region is
    mostly landslide-free terrain, while smart crops always hold a landslide; these crops show the
    networks more of the clear-cuts, snow edges and speckle they must leave alone.

    ``augment``: ``rot90`` turns each crop by k*90 deg; ``dihedral`` also mirrors it (all 8
    symmetries of the square: nothing in the stack has a preferred handedness once terrain
    geometry is in the bands); ``radiometric`` also multiplies each change band by its own
    gain in :data:`GAIN_RANGE` per crop. Why the gain: the same scar drops NDVI by -0.3 in one
    event and -0.55 in another (season, vegetation density); the networks fitted the training
    events' strengths and missed the weaker scars of a new event, where a tuned threshold or
    trees on the same bands did not. The gain pivots on a physical 0 (no change stays no
    change); a NaN-filled pixel (the band mean, close to 0) moves by (g - 1) * mean.

    ``stale_optical_share``: the fraction of crops whose landslide pixels get dNDVI 0 (no optical
    change), for settings that also have Sentinel-1 change bands (else it does nothing). Why: in
    monitoring, a greenest-pixel post composite whose only clear looks predate a landslide shows
    it no change for up to a whole window, and SAR-first lets the optical ensemble decide such
    pixels; trained only on events whose post composites show every scar, an S1+S2 network learns
    that no dNDVI drop means no landslide and ignores the Sentinel-1 change there. These crops
    show it landslides that only Sentinel-1 sees.

    ``silent_sar_share``: the fraction of crops whose landslide pixels show no Sentinel-1 change,
    for settings with dNDVI and the Sentinel-1 bands (else it does nothing): their dVV and dVH
    are drawn from the crop's pixels outside landslides (unchanged ground: its speckle), and the
    post bands are set to pre + that change. Why: whether a slide brightens or darkens the
    backscatter depends on the slope's angle to the radar (the scar's incidence sensitivity);
    a third of norway-5's slides darkened VV, as fresh clear-cuts do, and the S1+S2 networks
    missed those (pixel recall 0.54 against the S2 networks' 0.93) although their dNDVI was a
    scar's. These crops show a network scars that Sentinel-1 does not confirm. Measured on the
    laptop sweep (docs/experiments.md, session 23) it trades the precision Sentinel-1 gives for
    that recall, so the laptop profile leaves it off.
    """

    def __init__(self, scenes: Sequence[Scene], setting_: Setting, norm: Normalisation, crop: int,
                 batch_size: int, rng: np.random.Generator, loss_mask: str = "none",
                 augment: str = "rot90", object_share: float = 0.0, background_share: float = 0.0,
                 stale_optical_share: float = 0.0, silent_sar_share: float = 0.0) -> None:
        from gee_landslide.train.metrics import evaluation_mask

        if not 0.0 <= object_share <= 1.0:
            raise ValueError(f"object_share {object_share!r}: use a fraction in [0, 1]")
        self.object_share = object_share
        if not 0.0 <= background_share <= 1.0:
            raise ValueError(f"background_share {background_share!r}: use a fraction in [0, 1]")
        self.background_share = background_share
        if augment not in AUGMENTS:
            raise ValueError(f"augment {augment!r}: use one of {', '.join(AUGMENTS)}")
        self.augment = augment
        names = norm.channel_names
        if not 0.0 <= stale_optical_share <= 1.0:
            raise ValueError(f"stale_optical_share {stale_optical_share!r}: use a fraction in [0, 1]")
        both = "dNDVI" in names and any(b in names for b in ("dVV", "dVH"))
        self.stale_optical_share = stale_optical_share if both else 0.0
        # the dNDVI channel and the normalised value of a physical 0 (no optical change)
        self.dndvi = (names.index("dNDVI"), -norm.mean[norm.bands.index("dNDVI")] / norm.std[norm.bands.index("dNDVI")]
                      ) if both else None
        if not 0.0 <= silent_sar_share <= 1.0:
            raise ValueError(f"silent_sar_share {silent_sar_share!r}: use a fraction in [0, 1]")
        sar = ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH")
        with_sar = "dNDVI" in names and all(b in names for b in sar)
        self.silent_sar_share = silent_sar_share if with_sar else 0.0
        # per polarisation: (pre, post, change) channel indices and each one's (mean, std)
        self.sar_triples = [
            tuple((names.index(b), norm.mean[norm.bands.index(b)], norm.std[norm.bands.index(b)])
                  for b in (f"pre{pol}", f"post{pol}", f"d{pol}"))
            for pol in ("VV", "VH")
        ] if with_sar else []
        # channel index, and the normalised value of a physical 0 (gain pivots on it)
        self.gain_channels = [
            (names.index(b), -norm.mean[norm.bands.index(b)] / norm.std[norm.bands.index(b)])
            for b in GAIN_BANDS if b in names
        ] if augment == "radiometric" else []
        self.crop = crop
        self.batch_size = batch_size
        self.rng = rng
        idx = list(setting_.band_indices)
        self.images: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.positives: list[np.ndarray] = []
        self.counted: list[np.ndarray] = []
        for s in scenes:
            p = prepare(s.stack[idx], norm, min_size=crop, labels=s.labels)
            counted = p.valid.copy()
            m = evaluation_mask(s.stack, loss_mask)
            if m is not None:
                counted[: p.height, : p.width] &= m
            pos = np.argwhere((p.labels > 0) & counted).astype(np.int32)
            if len(pos) == 0:
                continue
            self.images.append(np.ascontiguousarray(p.image))
            self.labels.append(p.labels)
            self.positives.append(pos)
            self.counted.append(counted)
        if not self.images:
            raise ValueError("no training scene holds a landslide pixel: smart crops are impossible")
        # every landslide object of every scene: (scene index, indices into that scene's positives)
        self.objects: list[tuple[int, np.ndarray]] = []
        for i, (lab, pos) in enumerate(zip(self.labels, self.positives, strict=True)):
            objects, n = ndimage.label(lab > 0)
            ids = objects[pos[:, 0], pos[:, 1]]
            order = np.argsort(ids, kind="stable")
            bounds = np.searchsorted(ids[order], np.arange(1, n + 2))
            self.objects += [(i, order[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
        c = self.images[0].shape[0]
        # the batch is stored channels-last (B,H,W,C) and returned as a (B,C,H,W) view, so that
        # torch.from_numpy(x) is already in torch.channels_last and needs no further copy
        self._x_nhwc = np.empty((batch_size, crop, crop, c), np.float32)
        self._x = self._x_nhwc.transpose(0, 3, 1, 2)
        self._y = np.empty((batch_size, 1, crop, crop), np.float32)
        self._w = np.empty((batch_size, 1, crop, crop), bool)

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch: x (B,C,crop,crop) float32 (channels-last strides), y (B,1,crop,crop) float32 0/1,
        and ``counted`` (B,1,crop,crop) bool: the pixels the loss may use (not padding, and inside
        the loss mask: with ``loss_mask="visible"`` what the evaluation counts).

        The arrays are reused buffers: consume (or copy) them before the next call.
        """
        rng, crop = self.rng, self.crop
        for b in range(self.batch_size):
            if self.background_share and rng.random() < self.background_share:
                i = int(rng.integers(len(self.images)))
                h, w = self.labels[i].shape
                r0, c0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            else:
                if self.object_share and rng.random() < self.object_share:
                    i, members = self.objects[int(rng.integers(len(self.objects)))]
                    r, c = self.positives[i][members[int(rng.integers(len(members)))]]
                else:
                    i = int(rng.integers(len(self.images)))
                    r, c = self.positives[i][int(rng.integers(len(self.positives[i])))]
                h, w = self.labels[i].shape
                r0 = int(rng.integers(max(0, r - crop + 1), min(r, h - crop) + 1))
                c0 = int(rng.integers(max(0, c - crop + 1), min(c, w - crop) + 1))
            img, lab, cnt = self.images[i], self.labels[i], self.counted[i]
            k = int(rng.integers(4))
            xi = img[:, r0 : r0 + crop, c0 : c0 + crop]
            yi = lab[r0 : r0 + crop, c0 : c0 + crop]
            wi = cnt[r0 : r0 + crop, c0 : c0 + crop]
            if k:
                xi = np.rot90(xi, k, axes=(1, 2))
                yi = np.rot90(yi, k)
                wi = np.rot90(wi, k)
            if self.augment != "rot90" and rng.integers(2):
                xi, yi, wi = xi[:, :, ::-1], yi[:, ::-1], wi[:, ::-1]
            self._x_nhwc[b] = xi.transpose(1, 2, 0)
            for ch, zero in self.gain_channels:
                g = rng.uniform(*GAIN_RANGE)
                # physical x -> g*x is z -> zero + g*(z - zero) in normalised units
                self._x_nhwc[b, :, :, ch] = zero + g * (self._x_nhwc[b, :, :, ch] - zero)
            if self.stale_optical_share and rng.random() < self.stale_optical_share:
                ch, zero = self.dndvi
                self._x_nhwc[b, :, :, ch][yi > 0] = zero
            if self.silent_sar_share and rng.random() < self.silent_sar_share:
                self._silence_sar(self._x_nhwc[b], yi > 0, wi & (yi == 0), rng)
            self._y[b, 0] = yi
            self._w[b, 0] = wi
        return self._x, self._y, self._w

    def _silence_sar(self, x: np.ndarray, slide: np.ndarray, ground: np.ndarray, rng: np.random.Generator) -> None:
        """Give the landslide pixels of one (H,W,C) normalised crop the Sentinel-1 change of
        randomly drawn unchanged pixels of the same crop, keeping post = pre + change."""
        n = int(slide.sum())
        donors = np.flatnonzero(ground)
        if n == 0 or len(donors) == 0:
            return
        pick = rng.choice(donors, size=n)
        for (pre, m_pre, s_pre), (post, m_post, s_post), (d, m_d, s_d) in self.sar_triples:
            flat_d = x[:, :, d].reshape(-1)
            change = flat_d[pick]  # normalised dVV/dVH of the donors
            x[:, :, d][slide] = change
            pre_db = x[:, :, pre][slide] * s_pre + m_pre
            x[:, :, post][slide] = (pre_db + change * s_d + m_d - m_post) / s_post
