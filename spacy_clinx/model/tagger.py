"""The torch module: encoder -> dropout -> linear emissions (one per subword), and the constrained
CRF's parameters that the head (``layers/heads.py``) trains and decodes with.

With ``token_features``, each subword's spaCy-token features are added to the encoder's input
embeddings and joined with its output before the emission layer (``layers/token_features.py``).

``head="softmax"`` (the paper's "- CRF" ablation) does not use the CRF; it is still built and saved,
so every saved tagger has the same parts."""
from typing import List, Optional

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from .layers.crf import ConstrainedCRF
from .encoder import special_tokens
from .layers import TokenFeatureEmbed, TokenFeatures
from .layers.heads import head_named


class SubwordCRFTagger(nn.Module):
    """Tags the centre subwords of each window; the tokenizer travels with the weights."""

    def __init__(
        self,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast,
        tag_names: List[str],
        dropout: float = 0.1,
        head: str = "crf",
        token_features: Optional[TokenFeatures] = None,
    ):
        super().__init__()
        self.head = head_named(head).name  # saved with the weights
        self.cpu_bf16 = False  # bfloat16 autocast of the encoder at inference on CPU (set by the component)
        self.bf16_training = False  # the same when training (set by the architecture: cpu_bf16_training)
        self.cpu_int8 = False  # the encoder run by ONNX Runtime in int8 on CPU (likewise)
        self.cpu_onnx = False  # the encoder run by ONNX Runtime in float32 on CPU (likewise)
        self._onnx_encoder = None  # the ONNX Runtime encoder, made at the first such prediction
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.special_prefix, self.special_suffix = special_tokens(tokenizer)
        self.tag_names = list(tag_names)
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.token_features = TokenFeatureEmbed(token_features, hidden) if token_features else None
        extra = token_features.output_width if token_features else 0
        self.emission = nn.Linear(hidden + extra, len(tag_names))
        self.crf = ConstrainedCRF(tag_names)

    def set_dropout(self, rate: float) -> None:
        """The rate of the emission and token-feature dropout (spaCy's ``[training] dropout``)."""
        self.dropout.p = rate
        if self.token_features is not None:
            self.token_features.dropout.p = rate

    def forward(self, input_ids, attention_mask, centre_index, token_feature_ids=None, token_slots=None) -> torch.Tensor:
        """Emissions of each window's centre subwords, (B, C, K) float32. The caller joins them per
        document and decodes each document in one pass (prediction), or scores gold segments of
        joined centres (training: ``Head.get_loss``)."""
        bf16 = (self.bf16_training if self.training else self.cpu_bf16) and input_ids.device.type == "cpu"
        features = None
        if self.token_features is not None:
            if token_feature_ids is None:
                raise ValueError("this tagger uses token features: the batch must carry token_feature_ids")
            features = self.token_features(token_feature_ids, token_slots)
        if not self.training and self.runs_onnx(input_ids.device):
            embeds = self.encoder.get_input_embeddings()(input_ids)
            if features is not None:
                embeds = embeds + self.token_features.to_input(features)
            hidden = self.onnx_encoder()(embeds, attention_mask)
        else:
            hidden = self.torch_encode(self.encoder, input_ids, attention_mask, features, bf16)
        hidden = hidden.float()
        if features is not None:
            hidden = torch.cat([hidden, features.float()], dim=-1)
        index = centre_index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        centre = torch.gather(hidden, 1, index)
        return self.emission(self.dropout(centre)).float()  # float32 under a CUDA autocast too

    def runs_onnx(self, device: torch.device) -> bool:
        """Whether predictions on ``device`` run the encoder in ONNX Runtime (``cpu_onnx`` or
        ``cpu_int8``, on CPU only)."""
        return (self.cpu_onnx or self.cpu_int8) and torch.device(device).type == "cpu"

    def torch_encode(self, encoder, input_ids, attention_mask, features, bf16: bool) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if features is None:
                hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            else:
                embeds = encoder.get_input_embeddings()(input_ids) + self.token_features.to_input(features)
                hidden = encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return hidden

    def drop_inference_copies(self) -> None:
        """Forget the ONNX Runtime copy of the encoder: its weights changed (``ClinxNER.finish_update``
        and ``use_params`` call this; not ``train()``, which thinc's shim calls after every prediction)."""
        object.__setattr__(self, "_onnx_encoder", None)

    def onnx_encoder(self):
        """The encoder exported to ONNX Runtime (``onnx_encoder.py``; quantized there with ``cpu_int8``),
        made on first use and kept until the weights change; not a parameter of this module, so neither
        saved nor updated."""
        if self._onnx_encoder is None or self._onnx_encoder.int8 != self.cpu_int8:
            from .onnx_encoder import OnnxRuntimeEncoder

            object.__setattr__(self, "_onnx_encoder", OnnxRuntimeEncoder(self.encoder, int8=self.cpu_int8))
        return self._onnx_encoder


class Uninitialized(nn.Module):
    """Stands in until the component is initialised or loaded (labels unknown yet)."""

    tokenizer = None
    token_features = None

    def forward(self, *args, **kwargs):
        raise ValueError("clinx_ner's model is not initialised: call nlp.initialize() or load a trained pipeline")
