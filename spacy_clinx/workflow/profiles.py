"""Workflow profiles (``configs/profiles/*.cfg``): the encoder, MLM and training budgets of a run.

``cpu`` fits a 2-core CPU, ``paper`` is the paper's GPU setting, ``smoke`` runs in minutes.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from thinc.api import Config

from .mlm import MLMSettings

BOOTSTRAP = "bootstrap"


@dataclass
class Profile:
    name: str
    encoder: Dict[str, Any]
    mlm: MLMSettings
    train: Dict[str, Any]
    #: the distilled student's budget: [train] with the profile's [distill] settings over it, and
    #: ``warm_start``: whether the student starts from the ensemble's best member
    distill: Dict[str, Any]

    def base_model(self, lang: str, override: Optional[str] = None) -> str:
        """``override`` (a project var) wins; a per-language table picks the language's model."""
        if override:
            return override
        base = self.encoder["base_model"]
        if isinstance(base, dict):
            if lang not in base:
                raise ValueError(f"profile {self.name} names no base model for language {lang!r} "
                                 f"(it has {sorted(base)}); set the project var base_model")
            return base[lang]
        return base


def load_profile(path: Path, seed: int = 0) -> Profile:
    path = Path(path)
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.cfg")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"No profile {path}; profiles there: {known}")
    cfg = Config().from_disk(path)
    mlm = dict(cfg.get("mlm", {}))
    train = dict(cfg["train"])
    distill = distill_budget(path, train, dict(cfg.get("distill", {})))
    for section, settings, key in (("train", train, "use_averages"), ("distill", distill, "use_averages"),
                                   ("distill", distill, "warm_start")):
        if not isinstance(settings.get(key, False), bool):  # a quoted "false" would otherwise turn it on
            raise ValueError(f"{path}: [{section}] {key} must be true or false, not {settings[key]!r}")
    return Profile(path.stem, dict(cfg["encoder"]), MLMSettings(**{"seed": seed, **mlm}), train, distill)


def distill_budget(path: Path, train: Dict[str, Any], settings: Dict[str, Any]) -> Dict[str, Any]:
    """[train] with a profile's [distill] settings over it (its ``model`` block key by key: the student
    keeps the members' layers, which a warm start copies), and ``warm_start`` (default false)."""
    unknown = sorted(set(settings) - set(train) - {"warm_start", "max_steps", "use_averages", "model"})
    if unknown:
        raise ValueError(f"{path}: [distill] sets {', '.join(unknown)}, which [train] does not have; it takes "
                         f"warm_start and settings of [train] ({', '.join(sorted(train))})")
    model = {**dict(train.get("model") or {}), **dict(settings.get("model") or {})}
    return {"warm_start": False, **train, **settings, **({"model": model} if model else {})}
