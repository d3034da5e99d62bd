"""Crop sampling (object-weighted crops), augmentation (mirror images, change-band gain) and per-run seeds."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_stacks import synthetic_scene

from gee_landslide.core.bands import setting
from gee_landslide.train.data import GAIN_RANGE, CropSampler, Normalisation, Scene
from gee_landslide.train.profile import ProfileError, load_profile, parse_profile
from gee_landslide.train.sweep import Splits, expand_grid

SPLITS_FOR_TESTS = Splits(("a", "b"), ("c",), ("d",))


def _scene_whose_band_is_its_label(i: int, size: int = 64) -> Scene:
    """A scene whose dNDVI is minus its labels: any crop keeps the two aligned whatever the symmetry."""
    stack, labels = synthetic_scene(i, size)
    stack = stack.copy()
    stack[14] = -labels.astype(np.float32)
    return Scene(f"e{i}", stack, labels)


def _sampler(augment: str, seed: int = 0, setting_name: str = "s2") -> tuple[CropSampler, Normalisation, list[Scene]]:
    s = setting(setting_name)
    scenes = [_scene_whose_band_is_its_label(i) for i in range(3)]
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
    return CropSampler(scenes, s, norm, crop=32, batch_size=4, rng=np.random.default_rng(seed), augment=augment), norm, scenes


def _physical_dndvi(x: np.ndarray, norm: Normalisation) -> np.ndarray:
    c = norm.bands.index("dNDVI")
    return x[:, c] * norm.std[c] + norm.mean[c]


def test_every_augment_keeps_image_and_labels_aligned():
    for augment in ("rot90", "dihedral", "radiometric"):
        sampler, norm, _ = _sampler(augment)
        for _ in range(40):
            x, y, _ = sampler.sample()
            d = _physical_dndvi(x, norm)
            scar = y[:, 0] > 0
            # the band is -label: landslide pixels negative (any gain > 0 keeps the sign), others 0
            assert (d[scar] < -0.5).all() and np.allclose(d[~scar], 0.0, atol=1e-5), augment


def test_dihedral_draws_mirror_images_that_rotations_alone_never_give():
    """An L-shaped scar: its mirror image is no rotation of it, so only ``dihedral`` produces it."""
    s = setting("s2")
    stack, _ = synthetic_scene(0, 32)
    labels = np.zeros((32, 32), np.uint8)
    labels[8:24, 10] = 1
    labels[23, 10:18] = 1  # an L
    stack = stack.copy()
    stack[14] = -labels.astype(np.float32)
    scenes = [Scene("l", stack, labels)]
    norm = Normalisation.compute([stack[list(s.band_indices)]], s.band_names)
    rotations = {np.rot90(labels, k).tobytes() for k in range(4)}
    seen = {}
    for augment in ("rot90", "dihedral"):
        sampler = CropSampler(scenes, s, norm, crop=32, batch_size=4, rng=np.random.default_rng(3), augment=augment)
        shapes = set()
        for _ in range(20):
            _, y, _ = sampler.sample()
            shapes |= {y[b, 0].astype(np.uint8).tobytes() for b in range(4)}
        seen[augment] = shapes
    assert seen["rot90"] <= rotations
    assert len(seen["dihedral"] - rotations) > 0 and len(seen["dihedral"]) == 8


def test_radiometric_gain_scales_change_bands_only_within_its_range():
    sampler, norm, _ = _sampler("radiometric", setting_name="s1s2")
    names = norm.channel_names
    assert sorted(names[c] for c, _ in sampler.gain_channels) == ["dNDVI", "dVH", "dVV"]
    gains = []
    for _ in range(60):
        x, y, _ = sampler.sample()
        d = _physical_dndvi(x, norm)
        scar = y[:, 0] > 0
        for b in range(4):
            if scar[b].any():
                gains.append(float(-d[b][scar[b]].mean()))  # the band was -1 on the scar
        # a band that gets no gain is exactly as the plain normaliser writes it: elevation is not in
        # s1s2, so check the layover mask stays 0/1
        lay = x[:, names.index("layover")]
        assert set(np.unique(lay)) <= {0.0, 1.0}
    lo, hi = GAIN_RANGE
    assert min(gains) >= lo - 1e-4 and max(gains) <= hi + 1e-4
    assert max(gains) - min(gains) > 0.3 * (hi - lo)  # it varies from crop to crop


def test_unknown_augment_is_refused_by_name():
    with pytest.raises(ValueError, match="augment 'mixup'"):
        _sampler("mixup")


def test_default_augment_keeps_the_run_ids_of_runs_made_before_the_option():
    cfg = expand_grid(load_profile("smoke"), SPLITS_FOR_TESTS)[0]
    assert cfg.augment == "rot90" and '"augment"' not in cfg.canonical_json()
    other = cfg.model_copy(update={"augment": "dihedral"})
    assert other.run_id != cfg.run_id and '"augment":"dihedral"' in other.canonical_json()


def test_seed_per_run_gives_each_run_its_own_stable_seed():
    prof = load_profile("laptop")
    same = prof.model_copy(update={"seed_per_run": False})
    per = prof.model_copy(update={"seed_per_run": True, "seed": 7})
    assert {c.seed for c in expand_grid(same, SPLITS_FOR_TESTS)} == {prof.seed}
    a = expand_grid(per, SPLITS_FOR_TESTS)
    seeds = [c.seed for c in a]
    assert len(set(seeds)) == len(seeds) and all(s >= 7 for s in seeds)
    # the same cell has the same seed whatever the grid around it
    narrow = per.model_copy(update={"architectures": ["FPN"], "extra": []})
    b = {(c.setting, c.architecture, c.loss): c.seed for c in expand_grid(narrow, SPLITS_FOR_TESTS)}
    for c in a:
        if (c.setting, c.architecture, c.loss) in b:
            assert b[(c.setting, c.architecture, c.loss)] == c.seed


def _two_scenes_blob_and_dots() -> list[Scene]:
    """Scene A: one 20x20 slide; scene B: ten 1-pixel slides. Land cover tells them apart."""
    out = []
    for name, cls in (("a", 2), ("b", 3)):
        stack, _ = synthetic_scene(0, 64)
        stack = stack.copy()
        labels = np.zeros((64, 64), np.uint8)
        if name == "a":
            labels[20:40, 20:40] = 1
        else:
            labels[5, 5:60:6] = 1
        stack[13] = cls
        stack[14] = -labels.astype(np.float32)
        out.append(Scene(name, stack, labels))
    return out


@pytest.mark.parametrize(("share", "expected_b"), [(0.0, 0.5), (1.0, 10 / 11), (0.5, 0.5 * 0.5 + 0.5 * 10 / 11)])
def test_object_share_draws_crops_per_landslide_object_across_events(share: float, expected_b: float):
    s = setting("s2")
    scenes = _two_scenes_blob_and_dots()
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names, "onehot")
    sampler = CropSampler(scenes, s, norm, crop=16, batch_size=8, rng=np.random.default_rng(5), object_share=share)
    assert len(sampler.objects) == 11
    from_b = []
    for _ in range(150):
        x, y, _ = sampler.sample()
        assert (y.reshape(8, -1).sum(1) > 0).all()
        from_b += list(x[:, norm.channel_names.index("CART_LC_classified=3")].reshape(8, -1).max(1) > 0.5)
    assert np.mean(from_b) == pytest.approx(expected_b, abs=0.05)


def test_object_share_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"object_share 1\.5"):
        s = setting("s2")
        scenes = _two_scenes_blob_and_dots()
        norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
        CropSampler(scenes, s, norm, crop=16, batch_size=2, rng=np.random.default_rng(0), object_share=1.5)


def test_object_share_zero_draws_exactly_the_crops_of_the_original_sampler():
    """Runs trained before the option keep their ids, so they must keep their crops too: the
    draws are the original ones (event, pixel of it, window, rotation), replayed here by hand."""
    s = setting("s2")
    scenes = _two_scenes_blob_and_dots()
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
    sampler = CropSampler(scenes, s, norm, crop=16, batch_size=4, rng=np.random.default_rng(9), object_share=0.0)
    rng = np.random.default_rng(9)
    for _ in range(20):
        _, y, _ = sampler.sample()
        for b in range(4):
            i = int(rng.integers(2))
            pos = sampler.positives[i]
            r, c = pos[int(rng.integers(len(pos)))]
            r0 = int(rng.integers(max(0, r - 15), min(r, 64 - 16) + 1))
            c0 = int(rng.integers(max(0, c - 15), min(c, 64 - 16) + 1))
            k = int(rng.integers(4))
            expected = np.rot90(scenes[i].labels[r0 : r0 + 16, c0 : c0 + 16], k)
            assert np.array_equal(y[b, 0], expected)


def test_background_share_draws_windows_anywhere_landslide_or_not():
    s = setting("s2")
    scenes = _two_scenes_blob_and_dots()
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
    counts = {}
    for share in (0.0, 1.0):
        sampler = CropSampler(scenes, s, norm, crop=16, batch_size=8, rng=np.random.default_rng(4),
                              background_share=share)
        empty = 0
        for _ in range(100):
            _, y, counted = sampler.sample()
            empty += int((y.reshape(8, -1).sum(1) == 0).sum())
            assert counted.all()  # 64 px scenes, 16 px crops: no padding in any window
        counts[share] = empty / 800
    assert counts[0.0] == 0.0  # smart crops always hold a landslide
    # scene a: a 20x20 slide in 64x64; scene b: dots on row 5. Most random 16 px windows miss both
    assert counts[1.0] > 0.5
    with pytest.raises(ValueError, match=r"background_share -0\.1"):
        CropSampler(scenes, s, norm, crop=16, batch_size=2, rng=np.random.default_rng(0), background_share=-0.1)


def test_every_profile_option_a_run_records_reaches_its_config_by_name():
    """expand_grid copies the shared options by field name: changing any of them in the profile
    changes every run's config (and so its id)."""
    from gee_landslide.train.runs import RunConfig
    from gee_landslide.train.sweep import PER_RUN_FIELDS

    base = load_profile("laptop")
    changed = {"crop_background_share": 0.25, "norm": "batch", "patience": 7, "augment": "dihedral",
               "weight_decay": 1e-4, "encoder": "resnet18"}
    prof = base.model_copy(update=changed)
    runs = expand_grid(prof, SPLITS_FOR_TESTS)
    shared = set(RunConfig.model_fields) - PER_RUN_FIELDS
    assert shared >= set(changed)
    from gee_landslide.train.profile import ExtraGrid

    own = shared & set(ExtraGrid.model_fields)  # an extra grid may set these for its runs (boundary_weight)
    for cfg in runs:
        keys = shared if cfg.setting in prof.settings else shared - own
        assert {k: getattr(cfg, k) for k in keys} == {k: getattr(prof, k) for k in keys}
    before = {c.canonical_json() for c in expand_grid(base, SPLITS_FOR_TESTS)}
    assert before.isdisjoint(c.canonical_json() for c in runs)


def test_workers_and_threads_are_machine_settings_that_leave_run_ids_alone():
    """Two runs at once (each its own process) compute what each would alone: the laptop profile's
    ``workers``/``num_threads`` are not part of a run's configuration, so its id does not move."""
    laptop = load_profile("laptop")
    assert (laptop.workers, laptop.num_threads) == (2, 1)
    alone = laptop.model_copy(update={"workers": 1, "num_threads": 2})
    assert [c.run_id for c in expand_grid(laptop, SPLITS_FOR_TESTS)] == [
        c.run_id for c in expand_grid(alone, SPLITS_FOR_TESTS)]
    with pytest.raises(ProfileError, match="workers"):
        parse_profile({**laptop.model_dump(), "workers": 0}, "x.yaml")


def test_stale_optical_crops_hide_the_scars_from_dndvi_only_where_sentinel1_can_see_them():
    s = setting("s1s2")
    scenes = [_scene_whose_band_is_its_label(i) for i in range(3)]
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)

    def crops(share: float, setting_name: str = "s1s2", n: int = 30):
        st = setting(setting_name)
        nm = Normalisation.compute([sc.stack[list(st.band_indices)] for sc in scenes], st.band_names)
        sampler = CropSampler(scenes, st, nm, crop=32, batch_size=4, rng=np.random.default_rng(5),
                              stale_optical_share=share)
        out = []
        for _ in range(n):
            x, y, _ = sampler.sample()
            out.append((x.copy(), y.copy(), nm))
        return out

    stale = 0
    for x, y, nm in crops(0.5):
        d = _physical_dndvi(x, nm)
        for b in range(4):
            scar = y[b, 0] > 0
            if np.allclose(d[b][scar], 0.0, atol=1e-5):
                stale += 1  # the scar shows no optical change
            else:
                assert (d[b][scar] < -0.5).all()
            assert np.allclose(d[b][~scar], 0.0, atol=1e-5)  # outside the scars nothing changes
    assert 30 < stale < 90  # about half of 120 crops
    # without Sentinel-1 bands there is nothing the crops could teach: S2 crops are left as they are
    for x, y, nm in crops(1.0, "s2", 10):
        assert (_physical_dndvi(x, nm)[y[:, 0] > 0] < -0.5).all()
    with pytest.raises(ValueError, match=r"stale_optical_share 1\.5"):
        CropSampler(scenes, s, norm, crop=32, batch_size=4, rng=np.random.default_rng(0), stale_optical_share=1.5)


def _scene_whose_sar_brightens_on_its_label(i: int, size: int = 64) -> Scene:
    """dVV, dVH +6 dB on the landslides and speckle-like N(0, 1) dB elsewhere; post = pre + change."""
    scene = _scene_whose_band_is_its_label(i, size)
    stack, rng = scene.stack, np.random.default_rng(100 + i)
    for pre, post, d in ((0, 1, 2), (3, 4, 5)):
        stack[d] = 6.0 * scene.labels + rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
        stack[pre] = rng.normal(-12.0, 2.0, (size, size)).astype(np.float32)
        stack[post] = stack[pre] + stack[d]
    return scene


def _physical(x: np.ndarray, norm: Normalisation) -> np.ndarray:
    """(B,7,H,W): preVV, postVV, dVV, preVH, postVH, dVH, dNDVI of a batch in physical units (NaN if absent)."""
    out = np.full((x.shape[0], 7, *x.shape[2:]), np.nan, np.float32)
    for i, band in enumerate(("preVV", "postVV", "dVV", "preVH", "postVH", "dVH", "dNDVI")):
        if band in norm.channel_names:
            c, j = norm.channel_names.index(band), norm.bands.index(band)
            out[:, i] = x[:, c] * norm.std[j] + norm.mean[j]
    return out


def test_silent_sar_crops_give_the_landslides_the_backscatter_change_of_unchanged_ground():
    scenes = [_scene_whose_sar_brightens_on_its_label(i) for i in range(3)]

    def crops(share: float, setting_name: str = "s1s2", n: int = 30):
        st = setting(setting_name)
        nm = Normalisation.compute([sc.stack[list(st.band_indices)] for sc in scenes], st.band_names)
        sampler = CropSampler(scenes, st, nm, crop=32, batch_size=4, rng=np.random.default_rng(3),
                              silent_sar_share=share)
        for _ in range(n):
            x, y, _ = sampler.sample()
            yield _physical(x, nm), y.copy(), nm

    silenced = 0
    for phys, y, _ in crops(0.5):
        ch = {b: i for i, b in enumerate(("preVV", "postVV", "dVV", "preVH", "postVH", "dVH", "dNDVI"))}
        for b in range(4):
            scar = y[b, 0] > 0
            for pol in ("VV", "VH"):  # the bands stay consistent: post = pre + change
                np.testing.assert_allclose(phys[b, ch[f"post{pol}"]] - phys[b, ch[f"pre{pol}"]],
                                           phys[b, ch[f"d{pol}"]], atol=1e-3)
            assert (phys[b, ch["dNDVI"]][scar] < -0.5).all()  # the scar stays a scar for Sentinel-2
            assert (np.abs(phys[b, ch["dVV"]][~scar]) < 6.0).all()  # unchanged ground is left alone
            if (phys[b, ch["dVV"]][scar] > 2.0).all():
                continue  # a crop as it was
            silenced += 1
            for pol in ("VV", "VH"):  # each slide pixel now shows a change some unchanged pixel shows
                ground = set(np.round(phys[b, ch[f"d{pol}"]][~scar], 3))
                assert set(np.round(phys[b, ch[f"d{pol}"]][scar], 3)) <= ground
    assert 30 < silenced < 90  # about half of 120 crops
    # without both sensors there is nothing to teach: S1-only crops keep their SAR change
    for phys, y, _ in crops(1.0, "s1", 10):
        assert (phys[:, 2][y[:, 0] > 0] > 2.0).all()
    with pytest.raises(ValueError, match=r"silent_sar_share -0\.1"):
        next(crops(-0.1))


@pytest.mark.parametrize("option", ["stale_optical_share", "silent_sar_share"])
def test_a_crop_option_at_zero_keeps_the_run_ids_and_the_crops_of_earlier_runs(option):
    cfg = expand_grid(load_profile("smoke"), SPLITS_FOR_TESTS)[0]
    field = f"crop_{option}"
    assert getattr(cfg, field) == 0.0 and option.split("_")[0] not in cfg.canonical_json()
    assert cfg.model_copy(update={field: 0.3}).run_id != cfg.run_id
    # share 0 draws nothing more from the generator: the same crops as a sampler without the option
    s = setting("s1s2")
    scenes = [_scene_whose_sar_brightens_on_its_label(i) for i in range(3)]
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
    a = CropSampler(scenes, s, norm, crop=32, batch_size=4, rng=np.random.default_rng(9))
    b = CropSampler(scenes, s, norm, crop=32, batch_size=4, rng=np.random.default_rng(9), **{option: 0.0})
    for _ in range(5):
        assert np.array_equal(a.sample()[0], b.sample()[0])
