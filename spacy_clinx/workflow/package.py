"""Build an installable pipeline package with ``spacy package``, install it, and check that
it loads by name and tags text in a fresh process with the Hugging Face hub switched off (and,
where the user may create one, in a network namespace with no network at all).

By default the package predicts on CPU in ONNX Runtime's int8 (every ``clinx_ner``, an ensemble's
members too, gets ``cpu_int8 = true``, and the package requires ONNX Runtime): the production path
of a de-identification model is CPU inference. On a GPU it runs in torch as before."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import srsly
from thinc.api import Config

from .ensemble import best_by_held_out
from .train_splits import DONE, read_members

CHECK = """
import json, sys, spacy
nlp = spacy.load(sys.argv[1])
docs = list(nlp.pipe([sys.argv[2]] * 3, batch_size=2))
print(json.dumps([[e.start_char, e.end_char, e.label_, e.text] for e in docs[0].ents]))
"""


# the check's default text per pipeline language: the header and first lines of a clinical case
# as MEDDOCAN's notes have them (names, age, sex, dates, hospital, a professional's licence number)
SAMPLES = {
    "es": ("Datos del paciente.\nNombre: Juan Pérez García.\nEdad: 45 años.\nSexo: H.\n"
           "Fecha de Ingreso: 03/03/2019.\nHospital: Hospital Universitario La Paz.\n"
           "Médico: María López Ruiz NºCol: 28 28 12345.\n\nVarón de 45 años que acude a urgencias "
           "por dolor abdominal de tres días de evolución."),
    "en": "A 45-year-old woman with familial adenomatous polyposis and breast cancer was seen on 3 March 2019.",
}


def sample_from(docbin: Path, max_chars: int = 1000) -> Tuple[str, List[Tuple[int, int, str]]]:
    """The check's text from the corpus itself: the opening (up to ``max_chars``, cut at a line or
    sentence end) of the first document of ``docbin`` with annotated entities in it, and those
    entities, so that a model of any entity types has something of its own to find and the check
    can say how much it found (the first document's opening when none has any)."""
    import spacy
    from spacy.tokens import DocBin

    openings = [opening(doc, max_chars) for doc in DocBin().from_disk(docbin).get_docs(spacy.blank("xx").vocab)]
    if not openings:
        raise ValueError(f"{docbin}: no documents to take the package check's sample from")
    return next((o for o in openings if o[1]), openings[0])


def opening(doc, max_chars: int) -> Tuple[str, List[Tuple[int, int, str]]]:
    text = doc.text
    if len(text) > max_chars:
        cut = max(text.rfind("\n", 0, max_chars), text.rfind(". ", 0, max_chars) + 1)
        text = text[:cut if cut > 0 else max_chars]
    return text, [(e.start_char, e.end_char, e.label_) for e in doc.ents if e.end_char <= len(text)]


def pick_pipeline(path: Path, pick: str) -> Path:
    """The pipeline to package: ``path`` itself when it is one; for a training folder of the
    workflow (members.json, ensemble/), its ensemble, the ensemble distilled into one model (the
    ``distill`` step's FOLDER-distilled/; a folder of one model, which the distill step leaves as it
    is, gives that model), or its best split model by the score each reached on its own held-out part
    (never the test set)."""
    path = Path(path)
    if (path / "meta.json").exists():
        return path
    if not (path / "members.json").exists():
        raise FileNotFoundError(f"{path}: neither a pipeline (meta.json) nor a training folder (members.json)")
    if pick == "ensemble":
        return path / "ensemble"
    if pick not in ("distilled", "best"):
        raise ValueError(f"unknown package model {pick!r}: use ensemble, distilled or best")
    members = read_members(path)
    if pick == "distilled":
        student = distilled_model(path)
        if (student / "meta.json").exists():
            if not (student.parent / DONE).exists():  # model-last is saved at every evaluation
                raise FileNotFoundError(f"{student}: the distill step has not finished training it (no "
                                        f"{student.parent / DONE}); run the distill step again to finish it")
            return student
        if len(members) > 1:
            raise FileNotFoundError(f"{student}: no distilled model; run the distill step first "
                                    "(spacy project run distill .)")
        # one model (the standard or all split scheme): nothing was distilled, it is the model
    return best_by_held_out(members)


def distilled_model(training: Path) -> Path:
    """Where the ``distill`` step of a training folder puts its student (one model, every train+dev document)."""
    return training.with_name(training.name + "-distilled") / "split0" / "model-last"


# what cpu_int8 needs at run time (the onnx extra of spacy-clinx)
INT8_REQUIREMENTS = ["onnx>=1.15", "onnxruntime>=1.17"]


def with_cpu_int8(model: Path, staging: Path) -> Path:
    """A copy of the pipeline ``model`` in ``staging`` whose every ``clinx_ner`` (in an ensemble's
    members' configs too) predicts on CPU in ONNX Runtime's int8, and whose meta requires ONNX Runtime."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RuntimeError("a cpu_int8 package needs ONNX Runtime here to check it: pip install 'spacy-clinx[onnx]', "
                           "or package for float32 (--cpu-inference float32; project var package_cpu_inference)") from None
    shutil.copytree(model, staging)
    changed = 0
    for path in staging.rglob("config.cfg"):
        config = Config().from_disk(path, interpolate=False)
        ner = [c for c in config.get("components", {}).values() if c.get("factory") == "clinx_ner"]
        for component in ner:
            component["cpu_int8"] = True
        if ner:
            config.to_disk(path)
            changed += len(ner)
    if not changed:
        raise ValueError(f"{model}: no clinx_ner component to run in int8")
    meta = srsly.read_json(staging / "meta.json")
    names = {requirement_name(r) for r in INT8_REQUIREMENTS}
    meta["requirements"] = [r for r in meta.get("requirements", []) if requirement_name(r) not in names]
    meta["requirements"] += INT8_REQUIREMENTS
    srsly.write_json(staging / "meta.json", meta)
    check_int8(staging, model)
    return staging


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]*", requirement).group(0).lower()


def check_int8(pipeline: Path, source: Path) -> None:
    """Export and quantize here, before anything is built: an encoder that cannot run in ONNX Runtime
    (Longformer) is refused in one line."""
    import spacy

    try:
        spacy.load(pipeline)("Paciente de 45 años.")
    except (ValueError, ImportError, RuntimeError) as err:
        raise ValueError(f"{source} cannot predict in int8 ({str(err).splitlines()[0]}); package it with "
                         "--cpu-inference float32") from None


def build_and_check(model: Path, output: Path, name: str, version: str, sample: str,
                    target: Optional[Path] = None, cpu_int8: bool = True, echo=print,
                    gold: Optional[List[Tuple[int, int, str]]] = None) -> str:
    """Returns the installed package name (``{lang}_{name}``). ``gold``: the sample's annotated
    entities (character offsets, label), to say how many the package found exactly."""
    lang = srsly.read_json(model / "meta.json")["lang"]
    package = f"{lang}_{name}"
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob(".staging-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=output)) if cpu_int8 else None
    try:
        source = with_cpu_int8(model, staging / "pipeline") if staging else model
        built = subprocess.run([sys.executable, "-m", "spacy", "package", str(source), str(output), "--name", name,
                                "--version", version, "--force"], capture_output=True, text=True)
    finally:
        if staging:
            shutil.rmtree(staging)
    if built.returncode != 0:
        raise failure(output, "spacy package failed", built.stdout + built.stderr)
    sdist = output / f"{package}-{version}" / "dist" / f"{package}-{version}.tar.gz"
    if not sdist.exists():
        raise RuntimeError(f"spacy package did not write {sdist}")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(sdist)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if target is not None:
        install += ["--target", str(target), "--upgrade"]
        env["PYTHONPATH"] = os.pathsep.join([str(Path(target).resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    installed = subprocess.run(install + ["--quiet"], capture_output=True, text=True)
    if installed.returncode != 0:
        raise failure(output, f"pip could not install {sdist}", installed.stdout + installed.stderr)
    offline = no_network_prefix()
    result = subprocess.run([*offline, sys.executable, "-c", CHECK, package, sample], capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        raise failure(output, f"the installed package {package} failed to load or run", result.stderr)
    found = json.loads(result.stdout)
    echo(f"installed {package} {version} ({'int8 on CPU' if cpu_int8 else 'float32'}); spacy.load({package!r}) in a "
         f"fresh process{' with no network' if offline else ''} {found_in_sample(found, gold)}")
    return package


def found_in_sample(found: List[list], gold: Optional[List[Tuple[int, int, str]]], shown: int = 6) -> str:
    """What the check found: the entities (the first ``shown``), and with ``gold`` how many of the
    annotated ones exactly."""
    listed = [[text, label] for _, _, label, text in found[:shown]] + (["..."] if len(found) > shown else [])
    if gold is None:
        return f"found {listed} in the sample"
    exact = len({(start, end, label) for start, end, label, _ in found} & set(gold))
    return (f"found {len(found)} entities in the sample, {exact} of its {len(gold)} annotated ones exactly: "
            f"{listed}")


def failure(output: Path, what: str, details: str) -> RuntimeError:
    """One line for the user; the tool's own output goes to ``output/package-error.log``."""
    log = Path(output) / "package-error.log"
    log.write_text(details, encoding="utf8")
    return RuntimeError(f"{what}; its output is in {log}")


def no_network_prefix() -> list:
    """``unshare -n`` (a new network namespace: no interface but loopback) when it can be used here."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []
