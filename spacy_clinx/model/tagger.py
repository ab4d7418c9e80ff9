"""The torch module: encoder -> dropout -> linear emissions (one per subword) -> constrained CRF.

``head="softmax"`` replaces the CRF by a per-subword softmax (cross-entropy loss, argmax decoding):
the paper's "- CRF" ablation. The CRF layer is still built (and saved) but not used."""
from typing import List, Optional

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from .crf import ConstrainedCRF
from .encoder import special_tokens


class SubwordCRFTagger(nn.Module):
    """Tags the centre subwords of each window; the tokenizer travels with the weights."""

    def __init__(
        self,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        tag_names: List[str],
        dropout: float = 0.1,
        head: str = "crf",
    ):
        super().__init__()
        if head not in ("crf", "softmax"):
            raise ValueError(f"Unknown head {head!r}: use 'crf' or 'softmax'")
        self.head = head
        self.cpu_bf16 = False  # bfloat16 autocast of the encoder at inference on CPU (set by the component)
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.special_prefix, self.special_suffix = special_tokens(tokenizer)
        self.tag_names = list(tag_names)
        self.dropout = nn.Dropout(dropout)
        self.emission = nn.Linear(encoder.config.hidden_size, len(tag_names))
        self.crf = ConstrainedCRF(tag_names)

    def emissions(self, input_ids, attention_mask, centre_index) -> torch.Tensor:
        bf16 = self.cpu_bf16 and not self.training and input_ids.device.type == "cpu"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden = hidden.float()
        index = centre_index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        centre = torch.gather(hidden, 1, index)
        return self.emission(self.dropout(centre))

    def forward(self, input_ids, attention_mask, centre_index, centre_mask,
                segment_index=None, segment_mask=None, tags: Optional[torch.Tensor] = None):
        """Training (``tags`` given): summed CRF negative log-likelihood of the segments,
        runs of consecutive centres of one document joined into one sequence.

        Otherwise the centre emissions: the caller joins them per document and decodes
        each document in one Viterbi pass, so window cuts never split an entity.
        """
        emissions = self.emissions(input_ids, attention_mask, centre_index)
        if tags is None:
            return emissions.float()
        flat = emissions.reshape(-1, emissions.shape[-1])
        if self.head == "softmax":
            return nn.functional.cross_entropy(flat[segment_index][segment_mask].float(), tags[segment_mask],
                                               reduction="sum")
        return self.crf.nll(flat[segment_index], tags, segment_mask)


class Uninitialized(nn.Module):
    """Stands in until the component is initialised or loaded (labels unknown yet)."""

    tokenizer = None

    def forward(self, *args, **kwargs):
        raise ValueError("clinx_ner's model is not initialised: call nlp.initialize() or load a trained pipeline")
