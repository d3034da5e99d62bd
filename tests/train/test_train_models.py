"""Every architecture and loss trains on small stacks (smoke profile); smp constraints hold."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers_stacks import make_splits

from gee_landslide.train.architectures import ARCHITECTURES, create_model
from gee_landslide.train.constraints import input_multiple, min_side
from gee_landslide.train.inference import plan_tiles, predict_normalised
from gee_landslide.train.losses import LOSSES, create_loss
from gee_landslide.train.profile import load_profile
from gee_landslide.train.sweep import expand_grid, run_sweep

ENC = "tu-mobilenetv3_small_050"


def test_smoke_profile_trains_every_architecture_and_loss(tmp_path):
    prof = load_profile("smoke")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=100)  # 100 px < 128 crop: padded
    losses = list(LOSSES)
    # every architecture once, cycling through the five losses so each loss is covered too
    configs = [c for c in expand_grid(prof, splits)
               if losses.index(c.loss) == list(ARCHITECTURES).index(c.architecture) % len(losses)]
    assert {c.architecture for c in configs} == set(ARCHITECTURES) and {c.loss for c in configs} == set(LOSSES)
    from gee_landslide.train.sweep import run_one

    for cfg in configs:
        status, rec = run_one(cfg, tmp_path / "runs", tmp_path / "stacks", prof)
        assert status == "trained", cfg.run_id
        assert rec["epochs"] == 1 and len(rec["history"]) == 1
        assert np.isfinite(rec["history"][0]["train_loss"])
        assert 0 <= rec["test_metrics"]["f1"] <= 1
        assert len(rec["weights"]["sha256"]) == 64
    # a second sweep pass over the same configs skips them all
    linknet = next(c for c in configs if c.architecture == "Linknet")
    res = run_sweep(prof.model_copy(update={"architectures": ["Linknet"], "losses": [linknet.loss]}),
                    tmp_path / "runs", tmp_path / "stacks", splits, show_progress=False)
    assert res.skipped == [linknet.run_id] and not res.trained


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_stride_is_read_from_the_model_and_inference_pads(arch):
    m = create_model(arch, 3, ENC).eval()
    k = input_multiple(m)
    assert k in (1, 8, 16, 32)
    side = max(min_side(arch), 128)
    img = np.random.default_rng(0).normal(size=(3, side, side + 2 * max(k, 32))).astype(np.float32)
    out = predict_normalised([m], img, tile=128, overlap=16, batch=2, device="cpu")
    assert out.shape == (1, *img.shape[1:]) and np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()


def test_pan_minimum_side_and_batchnorm_batch_of_one():
    m = create_model("PAN", 3, ENC).eval()
    assert min_side("PAN") == 128
    with torch.inference_mode(), pytest.raises(RuntimeError):
        m(torch.zeros(1, 3, 112, 112))
    m.train()
    with pytest.raises(ValueError):
        m(torch.zeros(1, 3, 128, 128))


def test_dice_jaccard_guard_on_empty_batch():
    logits = torch.zeros(2, 1, 8, 8, requires_grad=True)
    empty = torch.zeros(2, 1, 8, 8)
    for name in ("Dice", "Jaccard"):
        loss = create_loss(name)(logits, empty)
        loss.backward()
        assert logits.grad is not None and logits.grad.abs().sum() > 0
        logits.grad = None


def test_tile_plan_covers_the_image_with_overlap():
    plan = plan_tiles(600, 300, 256, 64)
    cover = np.zeros((600, 300), int)
    for r, c in plan.origins:
        cover[r : r + plan.tile_h, c : c + plan.tile_w] += 1
    assert cover.min() >= 1 and plan.tile_h == 256
    assert plan_tiles(200, 200, 256, 64).single


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_slim_decoder_is_narrower_and_keeps_the_constraints(arch):
    """The laptop profile's narrow decoders build for all nine, predict full-size maps, and the
    stride the profile validates crops against is the one the built model reports."""
    default = create_model(arch, 5, ENC, norm="group", refine=True)
    slim = create_model(arch, 5, ENC, norm="group", refine=True, decoder="slim").eval()
    n = [sum(p.numel() for p in m.parameters()) for m in (default, slim)]
    if ARCHITECTURES[arch].slim:
        assert n[1] < n[0]
    else:  # Linknet and PAN have no decoder width to narrow, Unet and FPN keep theirs: the same model
        assert n[1] == n[0]
    assert input_multiple(arch, "slim") == input_multiple(slim)
    img = np.random.default_rng(1).normal(size=(5, 160, 224)).astype(np.float32)
    out = predict_normalised([slim], img, tile=128, overlap=16, batch=2, device="cpu")
    assert out.shape == (1, 160, 224) and np.isfinite(out).all()


def test_decoder_option_is_validated_and_recorded(tmp_path):
    from gee_landslide.train.profile import ProfileError, parse_profile
    from gee_landslide.train.runs import RunConfig

    base = load_profile("smoke").model_dump()
    with pytest.raises(ProfileError, match=r"decoder = 'thin'"):
        parse_profile({**base, "decoder": "thin"}, "my.yaml")
    with pytest.raises(ValueError, match="unknown decoder 'thin'"):
        create_model("Unet", 3, ENC, decoder="thin")
    # a crop that fits DeepLabV3's default stride 8 but not the slim one's 16 is refused for slim only
    parse_profile({**base, "architectures": ["DeepLabV3"], "crop_size": 136}, "my.yaml")
    with pytest.raises(ProfileError, match="not a multiple of 16"):
        parse_profile({**base, "architectures": ["DeepLabV3"], "crop_size": 136, "decoder": "slim"}, "my.yaml")
    # the default keeps the run ids of runs made before the option existed; slim gets its own
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)
    configs = {d: expand_grid(parse_profile({**base, "decoder": d}), splits)[0] for d in ("default", "slim")}
    assert "decoder" not in configs["default"].canonical_json()
    assert configs["slim"].run_id != configs["default"].run_id
    assert RunConfig.model_validate_json(configs["slim"].model_dump_json()).decoder == "slim"


def test_sweep_starts_the_slowest_runs_first():
    from gee_landslide.train.sweep import Splits, longest_first

    laptop = load_profile("laptop")
    grid = expand_grid(laptop, Splits(("a",), ("b",), ("c",)))
    ordered = longest_first(grid)
    assert sorted(c.run_id for c in ordered) == sorted(c.run_id for c in grid)  # the same runs
    costs = [ARCHITECTURES[c.architecture].step_cost(c.decoder) for c in ordered]
    assert all(c > 0 for c in costs) and costs == sorted(costs, reverse=True)
    assert ordered[0].architecture == "MAnet" and ordered[-1].architecture == "PSPNet"
    # the slim DeepLabV3 is cheap, smp's (output stride 8) the costliest of all
    assert ARCHITECTURES["DeepLabV3"].step_cost("default") > 3 * ARCHITECTURES["DeepLabV3"].step_cost("slim")
    with pytest.raises(ValueError, match="unknown decoder"):
        ARCHITECTURES["Unet"].step_cost("thin")


def test_boundary_band_is_the_ring_of_pixels_on_both_sides_of_an_edge():
    from gee_landslide.train.losses import boundary_band

    t = torch.zeros(1, 1, 9, 9)
    t[0, 0, 2:7, 2:7] = 1  # a 5 x 5 slide
    band = boundary_band(t)[0, 0]
    inside, outside = band & (t[0, 0] > 0), band & (t[0, 0] == 0)
    assert int(inside.sum()) == 25 - 9 and int(outside.sum()) == 49 - 25  # its rim and the ring around it
    assert not bool(band[4, 4]) and not bool(band[0, 0])  # the core and the far background stay out
    assert not bool(boundary_band(torch.zeros(1, 1, 9, 9)).any())


def test_boundary_weight_weighs_edge_pixels_more_in_bce_and_focal_only():
    t = torch.zeros(2, 1, 16, 16)
    t[:, :, 4:12, 6:9] = 1  # a thin flow, 3 px wide
    for name in ("BCE", "Focal"):
        plain, weighted = create_loss(name), create_loss(name, boundary_weight=4.0)
        edge_miss = torch.where(t > 0, 3.0, -3.0)  # right everywhere ...
        edge_miss[:, :, 4:12, 5] = 3.0  # ... but drawn one pixel too wide (a band pixel)
        far_miss = torch.where(t > 0, 3.0, -3.0)
        far_miss[:, :, 14, 0:8] = 3.0  # ... or as many false pixels far from the slide
        assert torch.isclose(create_loss(name, boundary_weight=0.0)(edge_miss, t), plain(edge_miss, t))
        assert torch.isclose(plain(edge_miss, t), plain(far_miss, t))  # the plain loss cannot tell them apart
        assert weighted(edge_miss, t) > 1.5 * weighted(far_miss, t)
        logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
        weighted(logits, t).backward()
        assert logits.grad[0, 0, 5, 5].abs() > 4 * logits.grad[0, 0, 15, 15].abs()  # band pixel against far one
    with pytest.raises(ValueError, match="BCE or Focal"):
        create_loss("Dice", boundary_weight=4.0)


def test_boundary_weight_option_is_validated_and_recorded(tmp_path):
    from gee_landslide.train.profile import ProfileError, parse_profile

    base = load_profile("smoke").model_dump()
    with pytest.raises(ProfileError, match=r"my.yaml: .*boundary_weight needs per-pixel losses .*Dice"):
        parse_profile({**base, "losses": ["Focal", "Dice"], "boundary_weight": 4}, "my.yaml")
    with pytest.raises(ProfileError, match=r"boundary_weight = -1"):
        parse_profile({**base, "losses": ["Focal"], "boundary_weight": -1}, "my.yaml")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)
    runs = {w: expand_grid(parse_profile({**base, "losses": ["Focal"], "boundary_weight": w}), splits)[0]
            for w in (0.0, 4.0)}
    assert "boundary_weight" not in runs[0.0].canonical_json()  # earlier runs keep their ids
    assert runs[4.0].run_id != runs[0.0].run_id and runs[4.0].boundary_weight == 4.0


def test_an_extra_grid_can_keep_its_own_boundary_weight(tmp_path):
    """A profile may weigh edges in its main grid but not in its S1 grid (on Sentinel-1 alone the
    laptop's runs lost validation F1 with it), and those S1 runs keep the ids they had before the
    option existed."""
    from gee_landslide.train.profile import ProfileError, parse_profile

    weighted = load_profile("laptop")  # the laptop default since session 29
    assert weighted.boundary_weight == 4.0 and weighted.extra[0].boundary_weight == 0.0
    plain = parse_profile({**weighted.model_dump(), "boundary_weight": 0.0}, "my.yaml")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)
    weights = {(c.setting, c.boundary_weight) for c in expand_grid(weighted, splits)}
    assert weights == {("s2", 4.0), ("s1s2", 4.0), ("s1", 0.0)}
    s1 = [c for c in expand_grid(weighted, splits) if c.setting == "s1"]
    assert [c.run_id for c in s1] == [c.run_id for c in expand_grid(plain, splits) if c.setting == "s1"]
    assert all("boundary_weight" not in c.canonical_json() for c in s1)
    base = weighted.model_dump()
    # a Dice grid is fine where its own weight is 0, refused where the profile's applies
    parse_profile({**base, "extra": [{**base["extra"][0], "losses": ["Dice"]}]}, "my.yaml")
    with pytest.raises(ProfileError, match="also train Dice"):
        parse_profile({**base, "extra": [{**base["extra"][0], "losses": ["Dice"], "boundary_weight": None}]},
                      "my.yaml")


def _dropout_rates(model: torch.nn.Module) -> list[float]:
    return [m.p for m in model.modules() if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d))]


def test_decoder_dropout_sets_smps_rate_and_only_where_a_decoder_has_one():
    with_dropout = sorted(a.name for a in ARCHITECTURES.values() if a.dropout_option)
    assert with_dropout == ["DeepLabV3", "DeepLabV3+", "FPN", "PSPNet"]
    for name in with_dropout:
        default = _dropout_rates(create_model(name, 3, ENC))
        assert default and all(p > 0 for p in default), name  # smp trains these with dropout by default
        assert set(_dropout_rates(create_model(name, 3, ENC, decoder_dropout=0.0))) <= {0.0}, name
        assert set(_dropout_rates(create_model(name, 3, ENC, decoder_dropout=0.3))) == {0.3}, name
    with pytest.raises(ValueError, match="Unet has no decoder dropout"):
        create_model("Unet", 3, ENC, decoder_dropout=0.0)
    with pytest.raises(ValueError, match=r"decoder_dropout 1.5 must be in \[0, 1\)"):
        create_model("FPN", 3, ENC, decoder_dropout=1.5)


def _decoder_norms(model: torch.nn.Module) -> int:
    norms = (torch.nn.BatchNorm2d, torch.nn.GroupNorm)
    return sum(isinstance(m, norms) for m in model.base.decoder.modules())


def test_decoder_norm_false_drops_the_decoders_normalisation_and_only_where_smp_has_the_switch():
    with_switch = sorted(a.name for a in ARCHITECTURES.values() if a.has_decoder_norm)
    assert with_switch == ["Linknet", "MAnet", "PSPNet", "Unet", "Unet++"]
    for name in with_switch:
        normed = create_model(name, 3, ENC, norm="group", refine=True, decoder="slim")
        bare = create_model(name, 3, ENC, norm="group", refine=True, decoder="slim", decoder_norm=False)
        assert _decoder_norms(normed) > 0, name
        assert _decoder_norms(bare) == 0 or name == "MAnet", name  # MAnet's attention blocks keep theirs
        assert _decoder_norms(bare) < _decoder_norms(normed), name
        # only the decoder changes (the encoder and the refinement head keep their normalisation), and
        # its weights do not fit the other model: inference must know how a run was built
        outside = [{k for k in m.state_dict() if not k.startswith("base.decoder.")} for m in (normed, bare)]
        assert outside[0] == outside[1], name
        with pytest.raises(RuntimeError, match=r"Missing key|Unexpected key"):
            bare.load_state_dict(normed.state_dict())
    for name in sorted(set(ARCHITECTURES) - set(with_switch)):
        with pytest.raises(ValueError, match=re.escape(f"{name} has no decoder normalisation")):
            create_model(name, 3, ENC, decoder_norm=False)


def test_decoder_norm_option_is_validated_and_recorded_per_architecture(tmp_path):
    """The profile's switches reach the runs of the architectures named, and only those; runs with
    a normalised decoder keep the ids they had before the option existed."""
    from gee_landslide.train.profile import ProfileError, parse_profile

    base = {**load_profile("smoke").model_dump(), "architectures": ["Unet", "Linknet"], "losses": ["Focal"]}
    with pytest.raises(ProfileError, match=r"my.yaml: decoder_norm = .*FPN has no decoder normalisation to switch; "
                                           r"only Unet, Unet\+\+, MAnet, Linknet, PSPNet"):
        parse_profile({**base, "decoder_norm": {"FPN": False}}, "my.yaml")
    with pytest.raises(ProfileError, match=r"decoder_norm.Linknet = 'sometimes': Input should be a valid boolean"):
        parse_profile({**base, "decoder_norm": {"Linknet": "sometimes"}}, "my.yaml")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)
    plain = {c.architecture: c for c in expand_grid(parse_profile(base), splits)}
    off = {c.architecture: c for c in expand_grid(parse_profile({**base, "decoder_norm": {"linknet": False}}), splits)}
    assert off["Linknet"].decoder_norm is False and off["Linknet"].run_id != plain["Linknet"].run_id
    assert off["Unet"].decoder_norm is True and off["Unet"].run_id == plain["Unet"].run_id
    assert all("decoder_norm" not in c.canonical_json() for c in plain.values())
    # an extra grid takes the profile's switches unless it names its own ({} = normalised everywhere)
    extra = {"settings": ["s1"], "architectures": ["Linknet"], "losses": ["Focal"]}
    for own, expected in ((None, False), ({}, True), ({"Linknet": True}, True)):
        p = parse_profile({**base, "decoder_norm": {"Linknet": False}, "extra": [{**extra, "decoder_norm": own}]})
        (s1,) = [c for c in expand_grid(p, splits) if c.setting == "s1"]
        assert s1.decoder_norm is expected, own


def test_refine_head_reaches_the_runs_of_each_setting(tmp_path):
    """The head's shape is part of a run's config (its weights differ). One number applies to every
    run, a mapping to the settings it names; runs at the original shape (16, 1) keep their ids, so the
    laptop's S2 and S1 runs are unchanged by its deeper S1+S2 head."""
    from gee_landslide.train.profile import ProfileError, parse_profile

    base = {**load_profile("smoke").model_dump(), "architectures": ["Unet"], "losses": ["Focal"], "refine": True,
            "settings": ["s2", "s1s2"]}
    with pytest.raises(ProfileError, match=r"my.yaml: refine_depth"):
        parse_profile({**base, "refine_depth": 0}, "my.yaml")
    with pytest.raises(ProfileError, match=r"refine_width.*s3"):
        parse_profile({**base, "refine_width": {"s3": 32}}, "my.yaml")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)

    def heads(**option):
        return {c.setting: (c.refine_width, c.refine_depth, c.run_id)
                for c in expand_grid(parse_profile({**base, **option}), splits)}

    plain = heads()
    assert {k: v[:2] for k, v in plain.items()} == {"s2": (16, 1), "s1s2": (16, 1)}
    assert not any("refine_" in c.canonical_json() for c in expand_grid(parse_profile(base), splits))
    every = heads(refine_depth=2)
    assert {k: v[:2] for k, v in every.items()} == {"s2": (16, 2), "s1s2": (16, 2)}
    assert every["s2"][2] != plain["s2"][2]
    per = heads(refine_depth={"s1s2": 2}, refine_width={"s1s2": 32})
    assert {k: v[:2] for k, v in per.items()} == {"s2": (16, 1), "s1s2": (32, 2)}
    assert per["s2"][2] == plain["s2"][2] and per["s1s2"][2] != plain["s1s2"][2]
    laptop = {c.setting: (c.refine_width, c.refine_depth) for c in expand_grid(load_profile("laptop"), splits)}
    assert laptop == {"s2": (16, 1), "s1s2": (16, 2), "s1": (16, 1)}
    # inference rebuilds a run from its recorded config; a record made before these options existed
    # builds the model it trained (BatchNorm, smp's decoder, no head), a new one builds its own shape
    from gee_landslide.train.runs import model_build_options

    assert model_build_options({}) == {"norm": "batch", "refine": False, "decoder": "default", "decoder_norm": True,
                                       "refine_width": 16, "refine_depth": 1}
    s1s2 = next(c for c in expand_grid(load_profile("laptop"), splits) if c.setting == "s1s2")
    assert model_build_options(s1s2.model_dump(mode="json")) == {
        "norm": "group", "refine": True, "decoder": "slim", "decoder_norm": True, "refine_width": 16, "refine_depth": 2}


def test_decoder_dropout_option_is_validated_and_recorded_per_architecture(tmp_path):
    """The profile's rates reach the runs of the architectures named, and only those: the others keep
    the run ids they had before the option existed, and so does every run where no rate is set."""
    from gee_landslide.train.profile import ProfileError, parse_profile

    base = {**load_profile("smoke").model_dump(), "architectures": ["Unet", "FPN"], "losses": ["Focal"]}
    with pytest.raises(ProfileError, match=r"my.yaml: decoder_dropout = .*Unet has no decoder dropout; only FPN"):
        parse_profile({**base, "decoder_dropout": {"Unet": 0.0}}, "my.yaml")
    with pytest.raises(ProfileError, match=r"decoder_dropout.FPN = 1.0: Input should be less than 1"):
        parse_profile({**base, "decoder_dropout": {"FPN": 1.0}}, "my.yaml")
    with pytest.raises(ProfileError, match=r"decoder_dropout.* unknown architecture 'Fpnx'"):
        parse_profile({**base, "decoder_dropout": {"Fpnx": 0.0}}, "my.yaml")
    splits = make_splits(tmp_path / "stacks", 2, 1, 1, size=64)
    plain = {c.architecture: c for c in expand_grid(parse_profile(base), splits)}
    set_ = {c.architecture: c for c in expand_grid(parse_profile({**base, "decoder_dropout": {"fpn": 0.0}}), splits)}
    assert set_["FPN"].decoder_dropout == 0.0 and set_["FPN"].run_id != plain["FPN"].run_id
    assert set_["Unet"].decoder_dropout is None and set_["Unet"].run_id == plain["Unet"].run_id
    assert all("decoder_dropout" not in c.canonical_json() for c in plain.values())
    # an extra grid takes the profile's rates unless it names its own ({} = smp's everywhere)
    extra = {"settings": ["s1"], "architectures": ["FPN"], "losses": ["Focal"]}
    for own, expected in ((None, 0.0), ({}, None), ({"FPN": 0.1}, 0.1)):
        p = parse_profile({**base, "decoder_dropout": {"FPN": 0.0}, "extra": [{**extra, "decoder_dropout": own}]})
        (s1,) = [c for c in expand_grid(p, splits) if c.setting == "s1"]
        assert s1.decoder_dropout == expected, own
