"""Metrics from counts, the evaluation mask, normalisation/NaN policy, smart crops, profiles, run ids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers_stacks import B, synthetic_scene

from gee_landslide.core.bands import BAND_NAMES, setting
from gee_landslide.train.constraints import pad_scene
from gee_landslide.train.data import CropSampler, Normalisation, Scene, prepare
from gee_landslide.train.metrics import Counts, confusion, evaluation_mask
from gee_landslide.train.profile import ProfileError, load_profile, parse_profile
from gee_landslide.train.sweep import Splits, expand_grid


def test_metrics_from_counts():
    c = Counts(tp=30, fp=10, fn=20, tn=940)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 30 / (60 + 10 + 20))
    assert c.f1 == pytest.approx(2 * c.precision * c.recall / (c.precision + c.recall))
    assert c.frequency_bias == pytest.approx(40 / 50)
    assert (c + Counts(1, 2, 3, 4)) == Counts(31, 12, 23, 944)
    assert Counts().f1 == 0.0 and Counts().precision == 0.0 and math.isnan(Counts().frequency_bias)
    assert Counts.from_dict(c.to_dict()) == c


def test_confusion_with_mask():
    truth = np.array([[1, 1, 0, 0]], np.uint8)
    pred = np.array([[1, 0, 1, 0]], bool)
    assert confusion(pred, truth) == Counts(1, 1, 1, 1)
    mask = np.array([[True, False, True, True]])
    assert confusion(pred, truth, mask) == Counts(1, 1, 0, 1)


def test_visible_mask_excludes_layover_and_shadow():
    s, _ = synthetic_scene(1, 40)
    m = evaluation_mask(s, "visible")
    lay = s[BAND_NAMES.index("layover")] > 0
    sha = s[BAND_NAMES.index("shadow")] > 0
    assert not m[lay].any() and not m[sha].any() and m[~(lay | sha)].all()
    assert evaluation_mask(s, "none") is None


def test_normalisation_nan_policy_and_categories():
    s1s2 = setting("s1s2")
    scenes = [synthetic_scene(i, 48)[0][list(s1s2.band_indices)] for i in range(3)]
    norm = Normalisation.compute(scenes, s1s2.band_names)
    i_vh = s1s2.band_names.index("postVH")
    i_lc = s1s2.band_names.index("CART_LC_classified")
    i_lay = s1s2.band_names.index("layover")
    i_nd = s1s2.band_names.index("dNDVI")
    assert norm.mean[i_lay] == 0 and norm.std[i_lay] == 1  # masks stay 0/1
    assert norm.mean[i_lc] == 0 and norm.std[i_lc] == max(float(np.nanmax(s[i_lc])) for s in scenes)
    out = norm.apply(scenes[0])
    assert np.isfinite(out).all()
    assert np.isnan(scenes[0][i_nd]).any() and (out[i_nd][np.isnan(scenes[0][i_nd])] == 0).all()
    allv = np.concatenate([norm.apply(s)[i_vh].ravel() for s in scenes])
    assert abs(allv.mean()) < 1e-3 and abs(allv.std() - 1) < 1e-3
    assert Normalisation.from_dict(norm.to_dict()) == norm


def test_pad_scene_one_place():
    img = np.ones((2, 100, 90), np.float32)
    lab = np.ones((100, 90), np.uint8)
    p = pad_scene(img, lab, min_size=128, multiple=32)
    assert p.image.shape == (2, 128, 128) and p.labels.shape == (128, 128)
    assert np.isnan(p.image[:, 100:, :]).all() and p.labels[100:].sum() == 0
    assert p.valid.sum() == 100 * 90 and p.crop_back(p.image).shape == (2, 100, 90)
    s = setting("s2")
    norm = Normalisation(s.band_names, (0.0, 0.0), (1.0, 1.0))
    q = prepare(img, norm, min_size=0, multiple=32)
    assert q.image.shape == (2, 128, 96) and (q.image[:, 100:] == 0).all()


def test_smart_crop_always_holds_a_landslide():
    s = setting("s1s2")
    scenes = [Scene(f"e{i}", *synthetic_scene(i, 100)) for i in range(3)]
    norm = Normalisation.compute([sc.stack[list(s.band_indices)] for sc in scenes], s.band_names)
    sampler = CropSampler(scenes, s, norm, crop=128, batch_size=4, rng=np.random.default_rng(0))
    for _ in range(30):
        x, y, counted = sampler.sample()
        assert x.shape == (4, 11, 128, 128) and y.shape == counted.shape == (4, 1, 128, 128)
        assert np.isfinite(x).all()
        assert (y.reshape(4, -1).sum(1) > 0).all()
        # the 100 px scenes are padded to 128: the padding (wherever the rotation put it) is never counted
        assert ((~counted).reshape(4, -1).sum(1) >= 128 * 128 - 100 * 100).all()
    small = CropSampler(scenes, s, norm, crop=32, batch_size=2, rng=np.random.default_rng(1))
    for _ in range(50):
        _, y, _ = small.sample()
        assert (y.reshape(2, -1).sum(1) > 0).all()
    # with loss_mask="visible" layover/shadow pixels are not counted, and every crop still holds
    # a landslide pixel that the loss counts
    vis = CropSampler(scenes, s, norm, crop=32, batch_size=2, rng=np.random.default_rng(2), loss_mask="visible")
    for _ in range(50):
        x, y, counted = vis.sample()
        assert ((y * counted).reshape(2, -1).sum(1) > 0).all()
    for cnt, sc in zip(vis.counted, scenes, strict=True):
        lay = sc.stack[B["layover"]] > 0.5
        assert lay.any() and not cnt[:100, :100][lay].any()


def test_builtin_profiles_and_paper_numbers():
    paper = load_profile("paper")
    assert paper.n_runs == 360
    assert (paper.crop_size, paper.batch_size, paper.iterations_per_epoch, paper.patience) == (256, 4, 1000, 50)
    assert paper.max_epochs is None and paper.learning_rates == [0.01, 0.001]
    assert paper.architectures == ["Unet", "Unet++", "MAnet", "Linknet", "FPN", "PSPNet", "PAN",
                                   "DeepLabV3", "DeepLabV3+"]
    assert paper.losses == ["BCE", "Dice", "Focal", "Jaccard", "Lovasz"]
    for name in ("laptop", "smoke"):
        assert load_profile(name).name == name


def test_laptop_trains_a_few_s1_models_for_sar_first_monitoring():
    from gee_landslide.train.sweep import Splits, expand_grid

    laptop = load_profile("laptop")
    assert laptop.settings == ["s2", "s1s2"] and laptop.all_settings == ["s2", "s1s2", "s1"]
    splits = Splits(("a",), ("b",), ("c",))
    runs = expand_grid(laptop, splits)
    assert laptop.n_runs == len(runs) == 18 + 4
    s1 = [r for r in runs if r.setting == "s1"]
    assert [r.architecture for r in s1] == ["Unet", "FPN", "Linknet", "MAnet"] and {r.loss for r in s1} == {"Focal"}
    assert [r.setting for r in expand_grid(laptop, splits, ["s1"])] == ["s1"] * 4
    assert len(expand_grid(laptop, splits, ["s2"])) == 9


def test_a_setting_can_train_at_its_own_learning_rates():
    """``setting_learning_rates`` replaces the profile's list for one main-grid setting only: the
    others and the extra grids keep theirs, and the run count follows."""
    base = {"name": "x", "architectures": ["Unet", "FPN"], "losses": ["Focal"], "learning_rates": [0.001],
            "settings": ["s2", "s1s2"], "extra": [{"settings": ["s1"], "architectures": ["Unet"], "losses": ["Focal"]}]}
    prof = parse_profile({**base, "setting_learning_rates": {"s1s2": [0.002, 0.01]}})
    runs = expand_grid(prof, Splits(("a",), ("b",), ("c",)))
    by_setting = {s: sorted({r.learning_rate for r in runs if r.setting == s}) for s in ("s2", "s1s2", "s1")}
    assert by_setting == {"s2": [0.001], "s1s2": [0.002, 0.01], "s1": [0.001]}
    assert prof.n_runs == len(runs) == 2 + 4 + 1
    plain = expand_grid(parse_profile(base), Splits(("a",), ("b",), ("c",)))
    assert [r.run_id for r in plain if r.setting != "s1s2"] == [r.run_id for r in runs if r.setting != "s1s2"]
    with pytest.raises(ProfileError, match=r"setting_learning_rates.*s1\b.*extra grid"):
        parse_profile({**base, "setting_learning_rates": {"s1": [0.002]}})
    with pytest.raises(ProfileError, match=r"setting_learning_rates.*in \(0, 1\)"):
        parse_profile({**base, "setting_learning_rates": {"s2": [1.5]}})
    with pytest.raises(ProfileError, match=r"setting_learning_rates.*at least one"):
        parse_profile({**base, "setting_learning_rates": {"s2": []}})
    with pytest.raises(ProfileError, match=r"extra\[0\]\.learning_rates = \[1\.5\].*in \(0, 1\)"):
        parse_profile({**base, "extra": [{**base["extra"][0], "learning_rates": [1.5]}]})


def test_profile_errors_name_file_field_and_value(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("name: x\narchitectures: [Unet, SegFormer]\nlosses: [BCE]\nlearning_rates: [0.01]\n"
                 "settings: [s1s2]\nbatch_size: 1\n")
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    msg = str(e.value)
    assert str(p) in msg and "architectures[1]" in msg and "SegFormer" in msg
    assert "batch_size" in msg and "= 1" in msg
    with pytest.raises(ProfileError, match="crop_size"):
        parse_profile({"name": "x", "architectures": ["PAN"], "losses": ["BCE"], "learning_rates": [0.1],
                       "settings": ["s2"], "crop_size": 96})
    with pytest.raises(ProfileError, match="no profile"):
        load_profile("nonexistent-profile")


def test_run_ids_are_deterministic_and_readable():
    prof = load_profile("paper")
    splits = Splits(("a", "b"), ("c",), ("d",))
    ids = [c.run_id for c in expand_grid(prof, splits)]
    assert len(ids) == 360 and len(set(ids)) == 360
    assert ids == [c.run_id for c in expand_grid(prof, splits)]
    assert any(i.startswith("s1s2-unetpp-focal-lr0.01-") for i in ids)
    other = [c.run_id for c in expand_grid(prof, Splits(("a", "b", "x"), ("c",), ("d",)))]
    assert not set(ids) & set(other)  # a new training event changes every run
