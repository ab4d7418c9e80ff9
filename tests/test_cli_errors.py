"""User errors on the command line: one actionable line, a non-zero exit, no traceback, no output left."""
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import SUBPROCESS_ENV

PROFILES = Path(__file__).parent.parent / "configs" / "profiles"


def notes(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"id": "a", "text": "Paciente de 45 años."}\n', encoding="utf8")
    return path


def quoted_averages(tmp_path):
    """The cpu profile with ``use_averages = "false"``: a string, which bool() would read as true."""
    path = tmp_path / "quoted.cfg"
    path.write_text((PROFILES / "cpu.cfg").read_text().replace("use_averages = false", 'use_averages = "false"'))
    return path


def broken_split(tmp_path):
    """Splits whose one training set is not a DocBin (a copy cut short, say)."""
    (tmp_path / "splits" / "split0").mkdir(parents=True)
    (tmp_path / "splits" / "split0" / "train.spacy").write_bytes(b"not a docbin")
    (tmp_path / "splits" / "labels.json").write_text("[]")
    (tmp_path / "splits" / "splits.json").write_text('{"scheme": "random"}')
    (tmp_path / "x.cfg").write_text("[nlp]\n")
    return tmp_path / "splits"


CASES = {
    "annotate with a missing model": (lambda t: ["annotate", t / "no-model", notes(t), t / "out.jsonl"],
                                      "no such pipeline folder", "out.jsonl"),
    "annotate a missing input": (lambda t: ["annotate", t / "no-model", t / "nothing.jsonl", t / "out.jsonl"],
                                 "no such folder, JSONL or Parquet file", "out.jsonl"),
    "annotate to a gzip file": (lambda t: ["annotate", t / "no-model", notes(t), t / "out.jsonl.gz"],
                                "name it .jsonl", "out.jsonl.gz"),
    "annotate into the input folder": (lambda t: ["annotate", t / "no-model", t, t / "out", "--format", "brat"],
                                       "inside its folder", "out"),
    "train with a missing config": (lambda t: ["train", t / "nope.cfg", "-o", t / "model"], "no such config file",
                                    "model"),
    "encoder with a missing profile": (lambda t: ["encoder", t / "enc", "-t", t, "--profile", t / "nope.cfg"],
                                       "No profile", "enc"),
    "encoder of an unknown architecture": (lambda t: ["encoder", t / "enc", "-t", t, "--profile", PROFILES / "cpu.cfg",
                                                      "--architecture", "gpt"], "unknown architecture", "enc"),
    "encoder sizes for a pretrained encoder": (lambda t: ["encoder", t / "enc", "-t", t, "--profile",
                                                          PROFILES / "pretrained.cfg", "--hidden-size", "64"],
                                               "starts from a pretrained one", "enc"),
    "evaluate-models without trained models": (lambda t: ["evaluate-models", t / "training", t / "ensemble",
                                                           t / "test.spacy", t / "m.json"], "train the split models",
                                                "m.json"),
    "convert with its output forgotten": (lambda t: ["convert", notes(t), t / "more.jsonl"], "ending in .spacy",
                                          "more.jsonl"),
    "convert an empty folder": (lambda t: ["convert", t, t / "out.spacy"], "no documents", "out.spacy"),
    "train-splits with a negative number of jobs": (lambda t: ["train-splits", t / "x.cfg", t / "splits", t / "models",
                                                               "--encoder", t / "enc", "--jobs", "-1"],
                                                    "--jobs must be 0 (one per core) or more", "models"),
    "train-splits with use_averages quoted in its profile": (
        lambda t: ["train-splits", t / "x.cfg", t / "splits", t / "models", "--encoder", t / "enc", "--profile",
                   quoted_averages(t)], "use_averages must be true or false, not 'false'", "models"),
    "train-splits on a split whose training set is no DocBin": (
        lambda t: ["train-splits", t / "x.cfg", broken_split(t), t / "models", "--encoder", t / "enc"],
        "split0/train.spacy: not a DocBin of training documents", "models"),
    "distill before the splits": (lambda t: ["distill", t / "x.cfg", t / "ensemble", t / "splits", t / "data",
                                             t / "student", "--encoder", t / "enc"], "splits.json", "data"),
    "package with a missing --sample-from DocBin": (lambda t: ["package", t / "training", t / "packages",
                                                               "--sample-from", t / "nope.spacy"],
                                                    "no such DocBin file", "packages"),
    "an unknown corpus without a corpora folder": (lambda t: ["fetch-corpus", "mycorpus", t / "assets"],
                                                   "is not built in", "assets"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_user_error_is_one_line_and_leaves_nothing_behind(case, tmp_path):
    make_args, message, output = CASES[case]
    args = make_args(tmp_path)
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], capture_output=True, text=True,
                            env=SUBPROCESS_ENV)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / output).exists()


def test_gpu_id_means_the_same_in_every_command_and_a_missing_gpu_is_one_line(tmp_path):
    import torch

    from spacy_clinx.annotate.engines import actor_options
    from spacy_clinx.device import DeviceUnavailable, torch_device

    assert torch_device(-1) == torch.device("cpu")
    assert actor_options(gpus_per_worker=0.5) == {"num_cpus": 1, "num_gpus": 0.5}
    assert actor_options() == {"num_cpus": 1}
    if torch.cuda.is_available():
        assert torch_device(0) == torch.device("cuda", 0)
        return
    with pytest.raises(DeviceUnavailable, match="torch sees none"):
        torch_device(0)
    for args in (["encoder", tmp_path / "enc", "-t", tmp_path, "--gpu-id", "0"],
                 ["annotate", tmp_path / "model", notes(tmp_path), tmp_path / "out.jsonl", "--gpu-id", "0"],
                 ["evaluate-models", tmp_path, tmp_path, tmp_path, tmp_path / "m.json", "--gpu-id", "0"],
                 ["annotate", tmp_path / "model", notes(tmp_path), tmp_path / "out.jsonl", "--gpu-id", "0",
                  "--engine", "ray"]):
        result = subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], capture_output=True,
                                text=True, env=SUBPROCESS_ENV)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "gpu" in result.stderr.lower() and "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "enc").exists()
