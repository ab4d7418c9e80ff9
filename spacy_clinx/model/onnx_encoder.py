"""The encoder run by ONNX Runtime for CPU inference (``clinx_ner``'s ``cpu_int8`` and ``cpu_onnx``).

For a small encoder, torch's eager execution spends much of its time between operators; ONNX Runtime
runs the same graph with fused kernels. The graph is exported from the loaded weights at the first
prediction (nothing extra is saved or packaged) and takes input embeddings, so the tagger adds its
token features in torch exactly as in training. Exported with eager attention: the SDPA path traces
shape- and mask-dependent branches that a dynamic-shape graph must not keep. Before it is used, the
graph is checked against torch on a batch of another shape; an encoder family whose trace keeps its
export shape (Longformer pads to its attention window) is refused in one line. With ``int8``, the
checked graph is then quantized by ONNX Runtime's dynamic quantization (int8 weights of the matrix
products, activations quantized per run: under int8 each window runs alone, so its scores do not
depend on its batch-mates).
"""
import contextlib
import copy
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy
import torch
from transformers import AutoModel, PreTrainedModel

from .encoder import drop_pooler, quiet_transformers


class OnnxRuntimeEncoder:
    """Callable like the encoder on ``inputs_embeds`` and ``attention_mask``; returns the last hidden
    state as a float32 tensor. ``int8``: quantize the graph (after checking it in float32);
    ``threads``: ONNX Runtime's intra-op threads (torch's, by default)."""

    def __init__(self, encoder: PreTrainedModel, int8: bool = False, threads: int = 0):
        try:
            import onnx  # noqa: F401  (torch's exporter needs it)
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise ImportError("cpu_int8 and cpu_onnx need ONNX Runtime and onnx: pip install 'spacy-clinx[onnx]'") from e
        self.int8 = False  # until the float32 graph is checked, on a padded batch
        self.threads = threads
        self.hidden_size = encoder.config.hidden_size
        self.graph = export_encoder(encoder)
        self._session = None
        self.check_against(encoder)
        if int8:
            self.graph = quantize_int8(self.graph)
            self._session = None  # the checked float32 graph's
            self.int8 = True

    @property
    def session(self):
        """An ONNX Runtime session of the graph for this process and torch's current thread count: a
        session inherited through ``fork`` (``nlp.pipe(n_process=...)``) is unusable in the child, and
        one made before ``torch.set_num_threads`` would keep the old count."""
        import onnxruntime

        threads = self.threads or torch.get_num_threads()
        if self._session is None or self._session[0] != (os.getpid(), threads):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(self.graph, options, providers=["CPUExecutionProvider"])
            self._session = ((os.getpid(), threads), session)
        return self._session[1]

    def check_against(self, encoder: PreTrainedModel, tolerance: float = 1e-3) -> None:
        """The graph must give torch's hidden states on a batch unlike the export's (3 x 37, padded)."""
        generator = torch.Generator().manual_seed(0)
        embeds = torch.randn(3, 37, encoder.config.hidden_size, generator=generator)
        mask = torch.ones(3, 37, dtype=torch.int64)
        mask[0, 20:] = 0
        was_training = encoder.training
        encoder.eval()
        with torch.no_grad():
            expected = encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        encoder.train(was_training)
        got = self(embeds, mask)
        valid = mask.bool()
        gap = float((got[valid] - expected[valid]).abs().max())
        if not gap <= tolerance:
            raise ValueError(f"cpu_onnx/cpu_int8: the exported {encoder.config.model_type} encoder differs from torch by "
                             f"{gap:.3g} on a new input shape; this encoder family cannot run in ONNX Runtime here "
                             "(use cpu_bf16 instead)")

    def __call__(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, H). In int8, each window runs alone on its unpadded length: dynamic
        quantization scales a run's activations together, so batch-mates (or their padding) would move
        a window's scores. The hidden states of padding are then zeros."""
        embeds = inputs_embeds.detach().cpu().numpy().astype(numpy.float32, copy=False)
        mask = attention_mask.detach().cpu().numpy().astype(numpy.int64, copy=False)
        if not self.int8:
            return torch.from_numpy(self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0])
        hidden = numpy.zeros((*mask.shape, self.hidden_size), dtype=numpy.float32)
        for row, length in enumerate(mask.sum(axis=1)):  # padding is at the end of each row (windows.make_batch)
            hidden[row, :length] = self.session.run(None, {"inputs_embeds": embeds[row : row + 1, :length],
                                                           "attention_mask": mask[row : row + 1, :length]})[0][0]
        return torch.from_numpy(hidden)


class _LastHidden(torch.nn.Module):
    def __init__(self, encoder: PreTrainedModel):
        super().__init__()
        self.encoder = encoder

    def forward(self, inputs_embeds, attention_mask):
        return self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state


def export_encoder(encoder: PreTrainedModel) -> bytes:
    """The encoder as an ONNX graph with dynamic batch and length, from a copy with eager attention."""
    config = copy.deepcopy(encoder.config)
    with quiet_transformers():
        eager = drop_pooler(AutoModel.from_config(config, attn_implementation="eager"))
    eager.load_state_dict(encoder.state_dict(), strict=False)
    missing = set(eager.state_dict()) - set(encoder.state_dict())
    if any("position_ids" not in k and "token_type_ids" not in k for k in missing):
        raise RuntimeError(f"cpu_onnx: the encoder copy lacks weights {sorted(missing)[:3]}")
    eager = eager.cpu().eval()
    hidden = encoder.config.hidden_size
    embeds = torch.zeros(2, 8, hidden)
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 5:] = 0  # a padded row, so the graph keeps the mask
    out = io.BytesIO()
    dims = {0: "batch", 1: "length"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_LastHidden(eager), (embeds, mask), out, input_names=["inputs_embeds", "attention_mask"],
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={"inputs_embeds": dims, "attention_mask": dims, "hidden": dims})
    return out.getvalue()


def quantize_int8(graph: bytes) -> bytes:
    """ONNX Runtime's dynamic quantization of a graph (its API reads and writes files)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "encoder.onnx"), Path(tmp, "encoder-int8.onnx")
        source.write_bytes(graph)
        with warnings.catch_warnings(), without_onnxruntime_log_lines():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        return target.read_bytes()


@contextlib.contextmanager
def without_onnxruntime_log_lines():
    """ONNX Runtime's quantizer advises pre-processing through the root logger at every call; a
    pipeline's users cannot act on it, so it is dropped (other records pass). A root logger with no
    handler gets a silent one meanwhile, so that ``logging.warning`` does not configure the user's
    logging (``basicConfig``) behind their back."""
    def not_onnxruntime(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    root.addFilter(not_onnxruntime)
    if placeholder:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeFilter(not_onnxruntime)
        if placeholder:
            root.removeHandler(placeholder)
