"""One meaning of ``gpu_id`` in every command: -1 is the CPU, N >= 0 the N-th CUDA device, and a GPU
that torch cannot see is a one-line error rather than a silent fall-back to the CPU; and whether this
CPU trains fast in bfloat16."""
import warnings
from functools import lru_cache

import torch


class DeviceUnavailable(RuntimeError):
    pass


def torch_device(gpu_id: int) -> torch.device:
    if gpu_id < 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(f"gpu_id {gpu_id} asks for a GPU, but torch sees none (torch.cuda.is_available() is "
                                "False: a CPU-only torch, or no driver); use gpu_id -1 for the CPU")
    if gpu_id >= torch.cuda.device_count():
        raise DeviceUnavailable(f"gpu_id {gpu_id}: torch sees {torch.cuda.device_count()} GPU(s), numbered from 0")
    return torch.device("cuda", gpu_id)


def use_device(gpu_id: int) -> torch.device:
    """The device for a spaCy pipeline as well: thinc allocates on the same GPU (spaCy's ``require_gpu``)."""
    device = torch_device(gpu_id)
    if device.type == "cuda":
        from thinc.api import require_gpu

        require_gpu(gpu_id)
    return device


def cpu_runs_bf16() -> bool:
    """Whether this CPU has the instructions oneDNN needs for fast bfloat16 (AVX-512 and up; torch's
    own check): without them a bfloat16 autocast is emulated, and slower than float32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@lru_cache(maxsize=1)
def bf16_fits_this_cpu() -> bool:
    """Asked once per process by the bfloat16 settings of CPU training (clinx_ner's
    ``cpu_bf16_training``, the masked LM's ``cpu_bf16``): without fast bfloat16 they train in float32."""
    if cpu_runs_bf16():
        return True
    warnings.warn("spacy-clinx: bfloat16 training is asked for, but this CPU has no fast bfloat16 (AVX-512 or "
                  "AMX): training in float32")
    return False
