"""Training profiles: the numbers of a sweep, as data (``gee_landslide/profiles/*.yaml``).

``paper`` is the paper's protocol exactly; ``laptop`` the same code with smaller numbers for a
2-core CPU; ``smoke`` is for tests. ``load_profile(name_or_path)`` accepts a built-in name or
the path of a user's own YAML file; errors name the file, the field and the bad value.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml.error import YAMLError

from gee_landslide.core.bands import SETTINGS, setting
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.yamlsafe import YamlLimitError, load_yaml_file
from gee_landslide.train.architectures import (
    ARCHITECTURES,
    REFINE_DEPTH,
    REFINE_WIDTH,
    Architecture,
    architecture,
)
from gee_landslide.train.constraints import input_multiple, min_side
from gee_landslide.train.losses import loss_spec

BUILTIN = ("paper", "laptop", "smoke")


class ProfileError(GeeLandslideError, ValueError):
    """A profile file is invalid; the message lists file, field and value of every problem."""


def _lookup(fn, key) -> str:  # registry KeyError -> ValueError, so pydantic reports the field
    try:
        return fn(key).name
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


ArchName = Annotated[str, AfterValidator(lambda v: _lookup(architecture, v))]


def _only_architectures_with(has: Callable[[Architecture], object], what: str) -> Callable[[dict], dict]:
    """A validator for a per-architecture option that refuses an architecture without ``what``
    (``has`` false for it): the setting would silently do nothing. The error lists those that have it."""
    def check(values: dict[str, Any]) -> dict[str, Any]:
        if bad := sorted(a for a in values if not has(architecture(a))):
            names = ", ".join(a.name for a in ARCHITECTURES.values() if has(a))
            raise ValueError(f"{', '.join(bad)} has no {what}; only {names} have one")
        return values
    return check


# architecture -> the dropout rate inside its decoder (architectures.Architecture.dropout_option)
DropoutRates = Annotated[dict[ArchName, Annotated[float, Field(ge=0.0, lt=1.0)]],
                         AfterValidator(_only_architectures_with(lambda a: a.dropout_option, "decoder dropout"))]
# architecture -> whether its decoder normalises (architectures.Architecture.has_decoder_norm)
DecoderNorms = Annotated[dict[ArchName, bool], AfterValidator(
    _only_architectures_with(lambda a: a.has_decoder_norm, "decoder normalisation to switch"))]
LossName = Annotated[str, AfterValidator(lambda v: _lookup(loss_spec, v))]
SettingName = Annotated[str, AfterValidator(lambda v: _lookup(setting, v))]
RefineWidth = Annotated[int, Field(ge=1, le=256)]
RefineDepth = Annotated[int, Field(ge=1, le=8)]


def _learning_rates(lrs: list[float]) -> list[float]:
    if not lrs:
        raise ValueError("a list of learning rates needs at least one")
    if any(x <= 0 or x >= 1 for x in lrs):
        raise ValueError("learning rates must be in (0, 1)")
    return lrs


# the learning rates of a grid, a setting or an extra grid: at least one, each in (0, 1)
LearningRates = Annotated[list[float], AfterValidator(_learning_rates)]


class InferenceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tile: int = Field(256, ge=64, le=4096, description="tile side for full-image inference")
    overlap: int = Field(64, ge=0, description="overlap between neighbouring tiles (Hann blending)")
    batch: int = Field(8, ge=1, le=256, description="tiles per forward pass")

    @model_validator(mode="after")
    def _overlap(self) -> InferenceOptions:
        if self.overlap >= self.tile // 2:
            raise ValueError(f"overlap {self.overlap} must be below half the tile side {self.tile}")
        return self


class ExtraGrid(BaseModel):
    """A smaller grid for some settings, run besides the main one (same numbers otherwise).

    The laptop profile uses it to train a few S1-only models for SAR-first monitoring without
    running the whole 9-architecture grid on a third setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: list[SettingName] = Field(min_length=1)
    architectures: list[ArchName] = Field(min_length=1)
    losses: list[LossName] = Field(min_length=1)
    learning_rates: LearningRates | None = Field(None, description="default: the profile's")
    boundary_weight: float | None = Field(
        None, ge=0.0, le=50.0, description="the loss's edge weight for these runs (default: the profile's); the "
        "laptop's S1 runs keep 0: on Sentinel-1 alone their validation F1 fell with it (0.859 -> 0.842)")
    decoder_dropout: DropoutRates | None = Field(
        None, description="the decoder dropout of these runs' architectures (default: the profile's)")
    decoder_norm: DecoderNorms | None = Field(
        None, description="whether these runs' decoders normalise, per architecture (default: the profile's)")
    member_events_out: int | None = Field(
        None, ge=0, description="training events each of these runs leaves out (default: the profile's)")


class Profile(BaseModel):
    """One sweep: the grid (architectures x losses x learning rates x settings) and its numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    architectures: list[ArchName] = Field(min_length=1)
    losses: list[LossName] = Field(min_length=1)
    learning_rates: LearningRates
    settings: list[SettingName] = Field(min_length=1)
    setting_learning_rates: dict[SettingName, LearningRates] = Field(
        default_factory=dict, description="the learning rates of one main-grid setting's runs instead of "
        "learning_rates ({s1s2: [0.002]}); a setting not named, and the extra grids, keep theirs")
    encoder: str = "resnet34"
    encoder_weights: str | None = None
    crop_size: int = Field(256, ge=32, le=2048)
    batch_size: int = Field(4, ge=2, description=">= 2: BatchNorm fails on a batch of 1")
    iterations_per_epoch: int = Field(1000, ge=1)
    max_epochs: int | None = Field(None, ge=1, description="None = until early stopping")
    patience: int = Field(50, ge=1, description="epochs without validation-F1 improvement")
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    threshold: float = Field(0.5, gt=0, lt=1)
    tune_threshold: bool = Field(
        False, description="pick each run's threshold on the validation events (else `threshold`)")
    seed: int = 0
    seed_per_run: bool = Field(
        False, description="each run its own seed (seed + a number derived from its setting, architecture, loss "
        "and lr): different initial weights and crop sequences, so an ensemble's members do not share one error")
    member_events_out: int = Field(
        0, ge=0, description="each run of a setting trains on the training events minus this many, a different "
        "set per run (subbagging, sweep.bagged): members that saw different events; at most a quarter of the events "
        "(fewer than 4: none). 0: every run sees them all (the paper)")
    eval_mask: Literal["none", "visible"] = "visible"
    norm: Literal["batch", "group"] = Field(
        "batch", description="BatchNorm (the paper) or GroupNorm: batch-independent, for small batches")
    refine: bool = Field(False, description="add the full-resolution refinement head (architectures.FullResRefine)")
    refine_width: RefineWidth | dict[SettingName, RefineWidth] = Field(
        REFINE_WIDTH, description="channels of each hidden layer of the refinement head: one number, or one per setting "
        "({s1s2: 32}; a setting not named: 16)")
    refine_depth: RefineDepth | dict[SettingName, RefineDepth] = Field(
        REFINE_DEPTH, description="hidden 3x3 layers of the refinement head (1 sees 5x5 pixels, 2 sees 7x7): one number, or "
        "one per setting ({s1s2: 2}; a setting not named: 1)")
    decoder: Literal["default", "slim"] = Field(
        "default", description="smp's decoders (the paper) or narrow ones sized for a small encoder "
        "(architectures.Architecture.slim)")
    decoder_dropout: DropoutRates = Field(
        default_factory=dict, description="the dropout rate inside the decoder, per architecture that has one (FPN, "
        "PSPNet, DeepLabV3, DeepLabV3+; architectures.Architecture.dropout_option); not listed = smp's rate")
    decoder_norm: DecoderNorms = Field(
        default_factory=dict, description="false: the decoder of this architecture without its normalisation layers "
        "(smp's decoder_use_norm; Unet, Unet++, MAnet, Linknet, PSPNet); not listed = smp's (normalised)")
    lr_schedule: Literal["constant", "cosine", "onecycle"] = Field(
        "constant", description="constant (the paper); cosine decay, or warm-up then cosine (onecycle), over max_epochs")
    loss_mask: Literal["none", "visible"] = Field(
        "none", description="pixels the loss ignores besides padding: none, or visible = what eval_mask counts")
    categorical: Literal["scaled", "onehot"] = Field(
        "scaled", description="categorical bands as scaled codes (the paper) or one channel per class (train.data)")
    augment: Literal["rot90", "dihedral", "radiometric"] = Field(
        "rot90", description="crop augmentation (train.data.CropSampler): k*90 deg rotations; plus mirror images; "
        "plus a per-crop gain on the change bands (dNDVI, dVV/dVH)")
    crop_object_share: float = Field(
        0.0, ge=0.0, le=1.0, description="fraction of crops centred on a landslide object drawn uniformly from all "
        "training events, not on a pixel of a uniformly drawn event (train.data.CropSampler)")
    crop_background_share: float = Field(
        0.0, ge=0.0, le=1.0, description="fraction of crops at a random window of a random training scene, "
        "landslide or not (train.data.CropSampler)")
    crop_stale_optical_share: float = Field(
        0.0, ge=0.0, le=1.0, description="fraction of crops whose landslides show no optical change (dNDVI 0), as "
        "where a greenest-pixel composite holds only pre-event clear looks; settings with Sentinel-1 bands and "
        "dNDVI only (train.data.CropSampler)")
    crop_silent_sar_share: float = Field(
        0.0, ge=0.0, le=1.0, description="fraction of crops whose landslides show no Sentinel-1 change (their dVV, "
        "dVH drawn from the crop's unchanged ground), as where a slide's backscatter barely moved; settings with "
        "Sentinel-1 bands and dNDVI only (train.data.CropSampler)")
    boundary_weight: float = Field(
        0.0, ge=0.0, le=50.0, description="extra weight of the pixels within 1 px of a landslide's edge in the loss "
        "(1 + this; BCE and Focal only; train.losses): 0 = every pixel alike, as the paper")
    s1_post_variants: bool = Field(
        False, description="train and validate the settings of s1_post_variant_settings also on the events' "
        "variants with a monitoring pass's few Sentinel-1 looks (core.variants; the catalog's "
        "defaults.s1_post_variant_looks says which, ingest builds them)")
    s1_post_variant_settings: list[str] = Field(
        default_factory=lambda: ["s1"], description="the settings that s1_post_variants applies to")
    amp: bool = Field(True, description="mixed precision autocast on CUDA (train.precision)")
    cpu_bf16: bool = Field(False, description="bfloat16 training steps on CPUs with AMX (train.precision; "
                           "opt-in: faster, but the runs are not those of a float32 sweep)")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads per run (None = leave as is)")
    workers: int = Field(
        1, ge=1, le=64, description="runs the `train` flow trains at once on this machine, each in its own process "
        "with num_threads threads; a sequential sweep (`gee-landslide train`) gives its one run num_threads x workers")
    inference: InferenceOptions = Field(default_factory=InferenceOptions)
    extra: list[ExtraGrid] = Field(default_factory=list, description="smaller grids for other settings")

    @property
    def all_settings(self) -> list[str]:
        """The main grid's settings, then those only the extra grids train."""
        out = list(self.settings)
        for g in self.extra:
            out += [x for x in g.settings if x not in out]
        return out

    @field_validator("architectures", "losses", "settings")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an entry is listed twice")
        return v

    @model_validator(mode="after")
    def _setting_lrs_in_main_grid(self) -> Profile:
        if stray := sorted(set(self.setting_learning_rates) - set(self.settings)):
            raise ValueError(f"setting_learning_rates names {', '.join(stray)}, not in settings {self.settings} "
                             "(an extra grid sets its own learning_rates)")
        return self

    @model_validator(mode="after")
    def _crop_fits(self) -> Profile:
        for a in {*self.architectures, *(x for g in self.extra for x in g.architectures)}:
            m = input_multiple(a, self.decoder)
            if self.crop_size % m:
                raise ValueError(f"crop_size {self.crop_size} is not a multiple of {m} (needed by {a})")
            if self.crop_size < min_side(a):
                raise ValueError(f"crop_size {self.crop_size} is below {a}'s minimum side {min_side(a)}")
            if self.inference.tile < min_side(a) or self.inference.tile % 32:
                raise ValueError(
                    f"inference.tile {self.inference.tile} must be a multiple of 32 and >= {min_side(a)} ({a})"
                )
        return self

    @model_validator(mode="after")
    def _schedule_needs_budget(self) -> Profile:
        if self.lr_schedule != "constant" and self.max_epochs is None:
            raise ValueError(f"lr_schedule {self.lr_schedule} needs max_epochs: the schedule spans the whole budget")
        return self

    @model_validator(mode="after")
    def _boundary_weight_needs_a_pixel_loss(self) -> Profile:
        from gee_landslide.train.losses import PIXEL_WEIGHTED

        weighted = [self.losses] if self.boundary_weight > 0 else []
        weighted += [g.losses for g in self.extra if self.boundary_weight_of(g) > 0]
        if weighted:
            losses = {x for ls in weighted for x in ls}
            if bad := sorted(x for x in losses if loss_spec(x).slug not in PIXEL_WEIGHTED):
                raise ValueError(f"boundary_weight needs per-pixel losses (BCE, Focal); the runs it applies to "
                                 f"also train {', '.join(bad)}")
        return self

    def boundary_weight_of(self, grid: ExtraGrid) -> float:
        """The loss's edge weight for the runs of an extra grid: its own, else the profile's."""
        return self.boundary_weight if grid.boundary_weight is None else grid.boundary_weight

    def refine_head(self, setting_name: str) -> tuple[int, int]:
        """(width, depth) of the refinement head of one setting's runs: the profile's number, or the
        setting's entry in its per-setting mapping (a setting not named keeps the original head, ``REFINE_WIDTH`` and ``REFINE_DEPTH``)."""
        def pick(value: int | dict[str, int], original: int) -> int:
            return value.get(setting_name, original) if isinstance(value, dict) else value

        return pick(self.refine_width, REFINE_WIDTH), pick(self.refine_depth, REFINE_DEPTH)

    def learning_rates_of(self, setting_name: str) -> list[float]:
        """The learning rates of one main-grid setting's runs: its entry in ``setting_learning_rates``,
        else the profile's (a setting may need another step size for the same budget: the laptop's S1+S2
        runs still gained at their 10-epoch cap at 0.001)."""
        return self.setting_learning_rates.get(setting_name, self.learning_rates)

    def decoder_dropout_of(self, grid: ExtraGrid) -> dict[str, float]:
        """The decoder dropout rates for the runs of an extra grid: its own, else the profile's."""
        return self.decoder_dropout if grid.decoder_dropout is None else grid.decoder_dropout

    def member_events_out_of(self, grid: ExtraGrid) -> int:
        """How many training events each run of an extra grid leaves out: its own number, else the profile's."""
        return self.member_events_out if grid.member_events_out is None else grid.member_events_out

    def decoder_norm_of(self, grid: ExtraGrid) -> dict[str, bool]:
        """Whether the decoders of an extra grid's runs normalise: its own switches, else the profile's."""
        return self.decoder_norm if grid.decoder_norm is None else grid.decoder_norm

    @property
    def n_runs(self) -> int:
        main = len(self.architectures) * len(self.losses) * sum(len(self.learning_rates_of(s)) for s in self.settings)
        return main + sum(len(g.settings) * len(g.architectures) * len(g.losses)
                          * len(g.learning_rates or self.learning_rates) for g in self.extra)


def _format_error(file: str, exc: ValidationError) -> str:
    lines = [f"{file}: invalid training profile"]
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"  {file}: {loc or '<profile>'} = {value!r}: {msg}")
    return "\n".join(lines)


def parse_profile(data: object, file: str = "<profile>") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{file}: a profile must be a YAML mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_error(file, exc)) from None
    except KeyError as exc:  # raised by the registries outside pydantic's wrapping
        raise ProfileError(f"{file}: {exc.args[0]}") from None


def builtin_profile_path(name: str) -> Path:
    return Path(str(resources.files("gee_landslide") / "profiles" / f"{name}.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile (``paper``, ``laptop``, ``smoke``) or a user's YAML file."""
    text_name = str(name_or_path)
    if text_name in BUILTIN:
        path = builtin_profile_path(text_name)
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise ProfileError(
                f"no profile {text_name!r}: not a built-in ({', '.join(BUILTIN)}) and no such file"
            )
    try:
        data = load_yaml_file(path)  # size, encoding, alias and depth limits, then ruamel's safe loader
    except YamlLimitError as exc:
        raise ProfileError(exc.message, file=path, field=exc.field, value=exc.value, hint=exc.hint) from None
    except YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    return parse_profile(data, str(path))


__all__ = ["BUILTIN", "SETTINGS", "InferenceOptions", "Profile", "ProfileError", "load_profile", "parse_profile"]
