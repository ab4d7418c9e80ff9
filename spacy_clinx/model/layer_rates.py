"""A learning rate per part of the tagger: the layers trained from scratch (token features, emission
layer, CRF) may learn faster than the encoder.

spaCy trains its CNN ``ner``'s hash embeddings at 1e-3; a transformer fine-tuned at that rate
diverges, and at the encoder's rate the new tables and the CRF's transitions barely move in a few
thousand updates. thinc's ``Optimizer`` takes an ``lr_scale`` per call but its ``PyTorchShim``
passes none, so :class:`LayerRates` wraps the optimizer for the component's ``finish_update`` and
gives each torch parameter its part's scale (by name prefix; the encoder's is always 1).
"""
from typing import Dict, Tuple

from thinc.api import Optimizer

#: the tagger's parts trained from scratch (``SubwordCRFTagger``'s attribute names)
HEAD_PARTS = ("token_features.", "emission.", "crf.")


class LayerRates:
    """``optimizer`` with the learning rate of the parameters whose name starts with a prefix of
    ``scales`` multiplied by its scale; otherwise the optimizer itself (its rate schedule, averages,
    moments and step counts are the wrapped optimizer's)."""

    def __init__(self, optimizer: Optimizer, scales: Dict[str, float]):
        self.optimizer = optimizer
        self.scales: Tuple[Tuple[str, float], ...] = tuple(scales.items())

    def __call__(self, key: Tuple[int, str], weights, gradient, *, lr_scale: float = 1.0):
        name = key[1]
        scale = next((s for prefix, s in self.scales if name.startswith(prefix)), 1.0)
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * scale)

    def __getattr__(self, name: str):
        if name == "optimizer" or name.startswith("__"):  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.optimizer, name)


def head_rates(optimizer: Optimizer, head_learn_rate_scale: float):
    """The optimizer for a tagger whose head learns ``head_learn_rate_scale`` times faster than
    its encoder (1: the optimizer as it is)."""
    if head_learn_rate_scale == 1:
        return optimizer
    return LayerRates(optimizer, {part: head_learn_rate_scale for part in HEAD_PARTS})
