"""Typed settings: one frozen dataclass per config section that a job reads.

    config.yaml --schema (defaults)--> dict --Section.of--> DataSettings, ModelSettings, Recipe,
    StarSettings, AlignSettings, EvalSettings, EnsembleSettings --params()--> plain dict

`of` builds a section from its validated config entry and resolves every default: the schema's,
and the ones each dataset and architecture reads from its own table (`DATASET_DEFAULTS`,
`ARCH_DEFAULTS`: the "[...]" of the schema's descriptions). Keys a dataset or architecture does not
read are dropped. `params()` is the canonical plain form (keys sorted, tuples as lists, numbers
typed), so two configs that mean the same give equal params: writing a default out or reordering
keys reruns nothing (docs/reruns.md). `from_params(params, where)` rebuilds the object from params
plus the `where` fields taken from the config: the fields that say where files are or how fast they
are read (data.root, data.download, data.workers, data.ffcv.dir, eval.batch_size) are never in
params, so moving the data reruns nothing. `of(cfg) == from_params(of(cfg).params(), cfg)`.

Which sections a job reads, and so its params and provenance: `stardomain.jobs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# dataset -> the `data:` keys it reads and their defaults (digits: scikit-learn's split;
# torchvision's MNIST/Fashion-MNIST/CIFAR files: the authors' 10 % validation split from seed 42)
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": dict(test_fraction=0.2, split_seed=0),
    "mnist": dict(split_seed=42, val_fraction=0.1),
    "fashion_mnist": dict(split_seed=42, val_fraction=0.1),
    "cifar10": dict(split_seed=42, val_fraction=0.1, augment=True),
    "cifar100": dict(split_seed=42, val_fraction=0.1, augment=True),
    "imagenet": dict(augment=True, loader="torch"),
}
# architecture -> the `model:` keys it reads and their published defaults; dropout None = the
# variant's own (`_dropout`)
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": dict(width=8, depth=2, batchnorm=False),
    "cnn": dict(width=16),
    "resnet18": dict(width=64),
    "resnet18_imagenet": {},
    "vgg": dict(depth=11, batchnorm=False, width=64, variant="reference", dropout=None),
    "wrn": dict(depth=22, width_factor=1, variant="reference", dropout=None),
    "densenet40_12": dict(width=12, variant="reference", dropout=None),
    "vit": dict(patch_size=7, width=64, depth=4, heads=4, mlp_dim=128),
}
# the authors' variants' dropout (vgg: their nn.Dropout(); densenet: 0.2); 0 elsewhere
AUTHORS_DROPOUT = {"vgg": 0.5, "densenet40_12": 0.2, "wrn": 0.0}


def where(default: Any = None) -> Any:
    """A field that says where files are or how fast they are read: kept out of params."""
    return field(default=default, metadata={"where": True})


def plain(value: Any) -> Any:
    """The JSON-like form of a value: settings as their params, tuples as lists, keys sorted."""
    if isinstance(value, Section):
        return value.params()
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(value[k]) for k in sorted(value)}
    return value


def _known(cfg: dict | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """`defaults` with the values `cfg` gives (absent or null: the default)."""
    cfg = cfg or {}
    return {k: v if cfg.get(k) is None else cfg[k] for k, v in defaults.items()}


class Section:
    """Base of the settings dataclasses: canonical params, and rebuilding from them."""

    nested: ClassVar[dict[str, type[Section]]] = {}  # field -> section type of a nested section
    sparse: ClassVar[bool] = False  # leave None fields out of params (keys nothing reads)

    @classmethod
    def of(cls, cfg: dict | Section | None):
        """The settings of the validated config entry `cfg` (settings of this type: as they are)."""
        return cfg if isinstance(cfg, cls) else cls._of(cfg)

    @classmethod
    def _of(cls, cfg: dict | None):
        raise NotImplementedError

    def params(self) -> dict:
        """Every field that changes a number, in canonical plain form (sorted keys)."""
        out = {
            f.name: plain(getattr(self, f.name))
            for f in sorted(fields(self), key=lambda f: f.name)
            if not f.metadata.get("where")
        }
        return {k: v for k, v in out.items() if v is not None} if self.sparse else out

    @classmethod
    def with_where(cls, params: dict, cfg: dict | None) -> dict:
        """`params` plus the `where` fields that the config entry `cfg` sets."""
        cfg = cfg or {}
        out = dict(params)
        for f in fields(cls):
            if f.metadata.get("where") and cfg.get(f.name) is not None:
                out[f.name] = cfg[f.name]
            elif f.name in cls.nested and out.get(f.name) is not None:
                out[f.name] = cls.nested[f.name].with_where(out[f.name], cfg.get(f.name))
        return out

    @classmethod
    def from_params(cls, params: dict, cfg: dict | None = None):
        """The settings that `params` describe, with the `where` fields of config entry `cfg`."""
        return cls.of(cls.with_where(params, cfg))


@dataclass(frozen=True)
class FfcvSettings(Section):
    """`data.ffcv:` how the `.beton` files of `data.loader: ffcv` are written (docs/experiments.md)."""

    max_resolution: int = 500  # pixels, longer side at most (FFCV's ImageNet files)
    compress_probability: float = 0.5  # fraction of images stored as JPEG
    jpeg_quality: int = 90
    dir: str | None = where()  # None: <root>/ffcv

    @classmethod
    def _of(cls, cfg: dict | None) -> FfcvSettings:
        cfg = cfg or {}
        values = _known(cfg, dict(max_resolution=500, compress_probability=0.5, jpeg_quality=90))
        values["compress_probability"] = float(values["compress_probability"])
        return cls(**values, dir=cfg.get("dir"))


@dataclass(frozen=True)
class DataSettings(Section):
    """`data:` of an experiment: which data set and split. Fields a data set does not read stay
    None; a user's factory (`name` = package.module:function) reads `kwargs` only."""

    name: str = "digits"
    test_fraction: float | None = None  # digits: fraction held out as the test split
    split_seed: int | None = None  # the fixed train/test (digits) or train/val split
    val_fraction: float | None = None  # MNIST, Fashion-MNIST, CIFAR: validation share
    augment: bool | None = None  # CIFAR, ImageNet: training augmentation
    loader: str | None = None  # ImageNet: torch | ffcv
    ffcv: FfcvSettings | None = None  # loader ffcv only
    kwargs: dict | None = None  # a user's factory
    root: str | None = where()  # None: <data_root>/<name> (stardomain.data.vision.root_of)
    download: bool = where(False)
    workers: int | None = where()  # ImageNet loader processes; None: 8

    nested: ClassVar[dict[str, type[Section]]] = {"ffcv": FfcvSettings}
    sparse: ClassVar[bool] = True

    @classmethod
    def _of(cls, cfg: dict | None) -> DataSettings:
        cfg = cfg or {}
        name = cfg.get("name") or "digits"
        values = _known(cfg, DATASET_DEFAULTS.get(name, {}))
        for key in ("test_fraction", "val_fraction"):
            if values.get(key) is not None:
                values[key] = float(values[key])
        if values.get("loader") == "ffcv":
            values["ffcv"] = FfcvSettings.of(cfg.get("ffcv"))
        if name not in DATASET_DEFAULTS:
            values["kwargs"] = plain(cfg.get("kwargs") or {})
        return cls(
            name=name,
            **values,
            root=cfg.get("root"),
            download=bool(cfg.get("download")),
            workers=cfg.get("workers"),
        )


def _dropout(name: str, variant: str | None, dropout: float | None) -> float | None:
    if name not in AUTHORS_DROPOUT:
        return dropout
    if dropout is None:
        dropout = AUTHORS_DROPOUT[name] if variant == "authors" else 0.0
    return float(dropout)


@dataclass(frozen=True)
class ModelSettings(Section):
    """`model:` of an experiment: the architecture and the keys it reads (`ARCH_DEFAULTS`), the
    others None and left out of params; a user's factory reads `kwargs` only."""

    name: str = "mlp"
    width: int | None = None  # hidden units (mlp), first-stage channels, growth rate, embedding
    depth: int | None = None  # hidden layers (mlp), layers (vgg, wrn), blocks (vit)
    width_factor: int | None = None  # WRN-d-k's k
    batchnorm: bool | None = None  # mlp, vgg
    variant: str | None = None  # reference | authors (vgg, wrn, densenet40_12)
    dropout: float | None = None  # the authors' variants
    patch_size: int | None = None  # vit
    heads: int | None = None  # vit
    mlp_dim: int | None = None  # vit
    kwargs: dict | None = None  # a user's factory

    sparse: ClassVar[bool] = True

    @classmethod
    def _of(cls, cfg: dict | None) -> ModelSettings:
        cfg = cfg or {}
        name = cfg.get("name") or "mlp"
        if name not in ARCH_DEFAULTS:  # a user's factory (or a name the config check refuses)
            return cls(name=name, kwargs=plain(cfg.get("kwargs") or {}))
        values = _known(cfg, ARCH_DEFAULTS[name])
        if "dropout" in values:
            values["dropout"] = _dropout(name, values["variant"], values["dropout"])
        return cls(name=name, **values)


@dataclass(frozen=True)
class Recipe(Section):
    """`train:` of an experiment: the training recipe of regular models, whose optimizer and
    schedule Starlight uses too (docs/method.md). Units: lr per step, epochs of the train split."""

    optimizer: str = "sgd"  # sgd (momentum, nesterov, weight decay) | adam
    epochs: int = 60
    batch_size: int = 32  # images per step
    lr: float = 0.05  # peak
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # coupled L2, as torch's SGD
    schedule: str = "cosine"  # cosine to zero | step | constant
    milestones: tuple[int, ...] = ()  # epochs at which `step` multiplies the lr by gamma
    gamma: float = 0.1
    warmup_epochs: int = 0  # linear warm-up
    label_smoothing: float = 0.0
    amp: str = "off"  # off | bf16 | fp16 (stardomain.precision.AMP_DTYPES)
    channels_last: bool = False

    @classmethod
    def _of(cls, cfg: dict | None) -> Recipe:
        cfg = dict(cfg or {})
        if cfg.get("amp") in (False, None):  # YAML reads an unquoted `off` as false
            cfg["amp"] = "off"
        values = _known(cfg, {f.name: f.default for f in fields(cls)})
        for key in ("lr", "momentum", "weight_decay", "gamma", "label_smoothing"):
            values[key] = float(values[key])
        values["milestones"] = tuple(int(m) for m in values["milestones"])
        return cls(**values)


REALIGN = ("every_epoch", "once", "never")


@dataclass(frozen=True)
class StarSettings(Section):
    """One entry of `stars:`, resolved (`stardomain.design.star_settings`): how Starlight trains
    this star (Algorithm 1; docs/method.md). `anchors` are the anchor seeds, `epochs` is resolved
    from `train.epochs` when the star sets none."""

    anchors: tuple[int, ...]
    epochs: int
    t_sampling: str = "uniform"  # uniform | beta | constant
    beta: tuple[float, float] = (2.0, 2.0)  # Beta(a, b) of t_sampling beta
    t_constant: float = 0.5  # t of t_sampling constant
    mu_star: float = 0.0  # weight of the star's own loss
    realign: str = "every_epoch"  # REALIGN: when the anchors are re-aligned to the star
    seed: int = 10000  # init, data order, (anchor, t) draws
    bn_batches: int | None = None  # BN re-estimation after each epoch but the last; None: full

    @classmethod
    def _of(cls, cfg: dict | None) -> StarSettings:
        cfg = cfg or {}
        resolved = ("anchors", "epochs")  # by design.star_settings, no defaults here
        values = _known(cfg, {f.name: f.default for f in fields(cls) if f.name not in resolved})
        values["beta"] = tuple(float(b) for b in values["beta"])
        values["t_constant"] = float(values["t_constant"])
        values["mu_star"] = float(values["mu_star"])
        return cls(anchors=tuple(cfg["anchors"]), epochs=int(cfg["epochs"]), **values)


@dataclass(frozen=True)
class EvalSettings(Section):
    """`eval:` of an experiment: how a pair's interpolation curve is evaluated (docs/method.md).
    Which pairs exist (`eval.pair_anchors`, `eval.naive`) is the design's (stardomain.design)."""

    grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # t values
    batch_size: int = where(1024)  # evaluation batch size: changes no number
    bn_batch_size: int = 128  # images per batch of BN re-estimation at interior t
    bn_batches: int | None = None  # batches of it; None: one full pass of the train split
    seed: int = 0  # order of the BN batches and the evaluation subsets
    train_subset: int | None = None  # images of the train split evaluated (None: all)
    test_subset: int | None = None  # images of the test split evaluated (None: all)

    @classmethod
    def _of(cls, cfg: dict | None) -> EvalSettings:
        cfg = cfg or {}
        values = _known(cfg, {f.name: f.default for f in fields(cls)})
        return cls(**dict(values, grid=tuple(float(t) for t in values["grid"])))


@dataclass(frozen=True)
class AlignSettings(Section):
    """`align:` of an experiment: how model b is matched onto model a (docs/alignment.md)."""

    matcher: str = "weight_matching"  # stardomain.perm.MATCHERS
    max_iter: int = 100  # coordinate-descent rounds at most
    seed: int = 0  # order in which permutations are visited
    bn_batch_size: int = 128  # rebasin only: BN re-estimation of the moved model

    @classmethod
    def _of(cls, cfg: dict | None) -> AlignSettings:
        return cls(**_known(cfg, {f.name: f.default for f in fields(cls)}))

    def for_starlight(self) -> AlignSettings:
        """What Starlight's re-alignment reads: weight matching with this `max_iter`. Its order
        is seeded from the star's own seed, so `seed`, `matcher` and `bn_batch_size` (the pairs'
        matching) keep their defaults here and retrain no star."""
        return AlignSettings(max_iter=self.max_iter)


@dataclass(frozen=True)
class EnsembleSettings(Section):
    """`ensemble:` of an experiment: the star vs ensembles and BMA comparison (`stars` is the
    design's: which stars are compared)."""

    bma_samples: int = 32  # theta(t) drawn from the star domain and averaged
    ece_bins: int = 15  # equal-width confidence bins
    seed: int = 0  # of the (n, t) draws

    @classmethod
    def _of(cls, cfg: dict | None) -> EnsembleSettings:
        return cls(**_known(cfg, {f.name: f.default for f in fields(cls)}))


@dataclass(frozen=True)
class TrackerSettings(Section):
    """`tracker:` (top level): where training jobs also send their per-epoch metrics."""

    name: str = "none"  # none | wandb
    project: str = "stardomain"
    entity: str | None = None  # None: the user's default W&B entity

    @classmethod
    def _of(cls, cfg: dict | None) -> TrackerSettings:
        return cls(**_known(cfg, {f.name: f.default for f in fields(cls)}))


@dataclass(frozen=True)
class PlotStyle(Section):
    """`figures.style:` plotting only."""

    dpi: int = 150  # of the PNG files
    font_size: float = 9.0  # points

    @classmethod
    def _of(cls, cfg: dict | None) -> PlotStyle:
        values = _known(cfg, {f.name: f.default for f in fields(cls)})
        return cls(dpi=int(values["dpi"]), font_size=float(values["font_size"]))
