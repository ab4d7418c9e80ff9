"""The workflow's encoder (paper 3.1): a profile's base model, or a small encoder bootstrapped from
the corpus's texts, after masked-LM training on clinical text (none with 0 steps: a bootstrapped
encoder is then the randomly initialised one)."""
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Union

from .profiles import BOOTSTRAP, Profile

# the [encoder] settings of a bootstrapping profile that a command line may override
BOOTSTRAP_SETTINGS = ("architecture", "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size")


def encoder_profile(profile: Profile, base_model: str = "", mlm_steps: int = -1, **bootstrap: Any) -> Profile:
    """``profile`` with a command line's choices: ``mlm_steps`` >= 0 replaces its masked-LM steps and
    ``bootstrap`` (``BOOTSTRAP_SETTINGS``; None: the profile's) its bootstrapped encoder's settings. A
    choice the profile does not fit is a ValueError: a pretrained model for a profile tuned for an
    encoder trained from scratch, or bootstrap settings for a profile that starts from a pretrained one."""
    from ..encoders import ARCHITECTURES

    builds = profile.encoder.get("base_model") == BOOTSTRAP
    if builds and base_model:
        raise ValueError(f"profile {profile.name} builds its own encoder and fine-tunes at lr "
                         f"{profile.train['learn_rate']:g}, a rate for an encoder trained from scratch; for the "
                         f"pretrained encoder {base_model!r} use the profile 'pretrained' (--vars.profile pretrained, "
                         "or --profile configs/profiles/pretrained.cfg)")
    unknown = set(bootstrap) - set(BOOTSTRAP_SETTINGS)
    if unknown:
        raise TypeError(f"not a setting of a bootstrapped encoder: {', '.join(sorted(unknown))}")
    given = {key: bootstrap[key] for key in BOOTSTRAP_SETTINGS if bootstrap.get(key) is not None}
    if given and not builds:
        options = ", ".join(f"--{key.replace('_', '-')}" for key in given)
        raise ValueError(f"{options}: settings of a bootstrapped encoder, but profile {profile.name} starts from a "
                         "pretrained one (use a profile whose base_model is \"bootstrap\", such as cpu)")
    if given.get("architecture", ARCHITECTURES[0]) not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {given['architecture']!r}: use one of {', '.join(ARCHITECTURES)}")
    mlm = replace(profile.mlm, steps=mlm_steps) if mlm_steps >= 0 else profile.mlm
    return replace(profile, encoder={**profile.encoder, **given}, mlm=mlm)


def make_encoder(output: Union[str, Path], texts: List[str], profile: Profile, base: str, seed: int = 0,
                 device=None, echo=print) -> str:
    """Write the workflow's encoder to ``output``; returns a line saying how it was made. ``base``:
    the profile's base model for the language (:meth:`Profile.base_model`); for BOOTSTRAP one is built
    from ``texts`` first: with masked-LM steps it is kept next to ``output`` as ``OUTPUT-init``, so that
    a rerun resumes an interrupted masked-LM run from the same one; without, it is ``output`` itself."""
    output = Path(output)
    if base == BOOTSTRAP:
        if profile.mlm.steps == 0:
            return bootstrapped(texts, profile.encoder, output, seed) + " (no masked-LM steps)"
        base = str(output.with_name(output.name + "-init"))
        if not (Path(base) / "config.json").exists():
            echo(bootstrapped(texts, profile.encoder, base, seed))
    if profile.mlm.steps == 0:
        from ..model.encoder import load_masked_lm

        model, tokenizer = load_masked_lm(base)
        model.save_pretrained(output)
        tokenizer.save_pretrained(output)
        return f"no MLM steps in profile {profile.name}: saved {base} as it is to {output}"
    from .mlm import train_mlm

    report = train_mlm(base, texts, output, profile.mlm, device=device)
    before = report.get("heldout_loss_before")
    return (f"MLM: {profile.mlm.steps} steps on {report['train_blocks']} blocks; held-out loss "
            f"{'' if before is None else f'{before:.3f} -> '}{report['heldout_loss_after']:.3f} (subword frequencies "
            f"alone: {report['heldout_loss_unigram']:.3f}); saved to {output}")


def bootstrapped(texts: List[str], settings: Dict[str, Any], output: Union[str, Path], seed: int = 0) -> str:
    """A tokenizer trained on ``texts`` and a randomly initialised encoder of a profile's [encoder]
    ``settings``, saved to ``output``; returns a line describing it."""
    from ..encoders import bootstrap_encoder

    sizes = {key: settings[key] for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size")}
    vocab = bootstrap_encoder(texts, settings["architecture"], output, settings["vocab_size"], seed=seed, **sizes)
    return (f"bootstrapped a {settings['num_layers']}-layer, {settings['hidden_size']}-hidden "
            f"{settings['architecture']} encoder with a {vocab}-subword vocabulary from {len(texts)} texts: {output}")
