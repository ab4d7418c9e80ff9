"""User errors on the command line: one actionable line, a non-zero exit, no traceback, no output left."""
import subprocess
import sys

import pytest

from pipelines import SUBPROCESS_ENV


def notes(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"id": "a", "text": "Paciente de 45 años."}\n', encoding="utf8")
    return path


CASES = {
    "annotate with a missing model": (lambda t: ["annotate", t / "no-model", notes(t), t / "out.jsonl"],
                                      "no such pipeline folder", "out.jsonl"),
    "annotate a missing input": (lambda t: ["annotate", t / "no-model", t / "nothing.jsonl", t / "out.jsonl"],
                                 "no such folder or JSONL file", "out.jsonl"),
    "train with a missing config": (lambda t: ["train", t / "nope.cfg", "-o", t / "model"], "no such config file",
                                    "model"),
    "encoder with a missing profile": (lambda t: ["encoder", t / "enc", "-t", t, "--profile", t / "nope.cfg"],
                                       "No profile", "enc"),
    "convert an empty folder": (lambda t: ["convert", t, "-o", t / "out.spacy"], "no documents", "out.spacy"),
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
