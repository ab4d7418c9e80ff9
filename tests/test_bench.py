"""The benchmark scripts import and parse their arguments (their results come from real runs, see
bench/README.md), and the peers' data exchange is lossless."""
import json
import sys
from pathlib import Path

import pytest
from spacy.tokens import DocBin

from pipelines import blank_nlp

BENCH = Path(__file__).parent.parent / "bench"
sys.path[:0] = [str(BENCH / "peers"), str(BENCH)]  # the peers import common from bench/

from exchange import doc_record, score_predictions  # noqa: E402


def test_benchmark_scripts_import():
    """Every script imports (in this process, not seven --help subprocesses) and has its typer main."""
    import importlib

    sys.path.insert(0, str(BENCH))
    for script in ("accuracy", "speed", "train_speed", "annotate_throughput", "transfer_study", "setting_cost",
                   "memory_stages", "ray_driver_memory", "train_memory", "bootstrap", "same_training", "train_setting_cost",
                   "mlm_setting_cost", "error_kinds"):
        assert callable(importlib.import_module(script).main), script


def test_peer_exchange_round_trip(examples, tmp_path):
    """Gold documents written for the peers, read back as predictions, score a perfect F1."""
    docs = [eg.reference for eg in examples]
    records = [doc_record(doc) for doc in docs]
    assert {tok[2][0] for r in records for s in r["sentences"] for tok in s} <= set("BIESO")
    gold = tmp_path / "gold.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(gold)
    predictions = tmp_path / "predicted.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "entities": [
        [e.start_char, e.end_char, e.label_] for e in doc.ents]}) + "\n" for r, doc in zip(records, docs)))
    scores = score_predictions(gold, predictions, blank_nlp())
    assert scores["spans_char_f"] == 1.0 and scores["spans_char_f_95"] == [100.0, 100.0]
    # one document's entities missed: the interval widens below 100
    predictions.write_text("".join(json.dumps({"id": r["id"], "entities": [] if i == 0 else [
        [e.start_char, e.end_char, e.label_] for e in doc.ents]}) + "\n" for i, (r, doc) in enumerate(zip(records, docs))))
    scores = score_predictions(gold, predictions, blank_nlp())
    low, high = scores["spans_char_f_95"]
    assert low < 100 * scores["spans_char_f"] < 100 and high == 100.0


def test_rewritten_report_keeps_hand_written_notes(tmp_path):
    sys.path.insert(0, str(BENCH))
    from common import NOTES_MARKER, write_markdown

    report = tmp_path / "report.md"
    write_markdown(report, ["# Tables", "| a |"], show=False)
    assert NOTES_MARKER not in report.read_text()
    report.write_text(report.read_text() + NOTES_MARKER + "\nWhy the numbers differ from the paper.\n")
    write_markdown(report, ["# Tables", "| b |"], show=False)
    text = report.read_text()
    assert "| b |" in text and "| a |" not in text
    assert text.endswith(NOTES_MARKER + "\nWhy the numbers differ from the paper.\n")


def test_an_ensemble_row_shows_its_median_and_best_model():
    sys.path.insert(0, str(BENCH))
    from accuracy import table_rows

    member = lambda f: {"spans_char_p": f, "spans_char_r": f, "spans_char_f": f}  # noqa: E731
    ensemble = {**member(0.95), "members": {f"split{i}": member(f) for i, f in enumerate([0.9, 0.7, 0.8, 0.6, 0.85])}}
    rows = table_rows("clinx-folds", ensemble)
    assert [name for name, _ in rows] == ["clinx-folds: median model (split2)", "clinx-folds: best model (split0)",
                                          "clinx-folds: ensemble of 5"]
    assert [scores["spans_char_f"] for _, scores in rows] == [0.8, 0.9, 0.95]
    assert table_rows("clinx", member(0.5)) == [("clinx", member(0.5))]


def test_recording_a_system_keeps_what_another_run_recorded_meanwhile(tmp_path):
    sys.path.insert(0, str(BENCH))
    from accuracy import record

    path = tmp_path / "meddocan" / "embedded.json"
    mine = record(path, "clinx", {"spans_char_f": 0.9})
    path.write_text(json.dumps({**mine, "flair": {"spans_char_f": 0.8}}))  # the other run, on the other core
    assert set(record(path, "clinx-all", {"spans_char_f": 0.91})) == {"clinx", "flair", "clinx-all"}
    assert set(json.loads(path.read_text())) == {"clinx", "flair", "clinx-all"}


def test_the_folds_system_trains_with_the_runs_rate_and_epochs(tmp_path, monkeypatch):
    """clinx-folds runs the workflow's train-splits, which reads a profile: it gets a copy with the
    run's --learn-rate and --epochs, not the stock profile."""
    sys.path.insert(0, str(BENCH))
    from accuracy import Systems

    from spacy_clinx.workflow.profiles import load_profile

    monkeypatch.chdir(BENCH.parent)  # the bench names its profile relative to the repository
    systems = Systems(tmp_path, "encoder", "es", tmp_path, learn_rate=1e-4, epochs=7)
    copy, stock = load_profile(systems.profile_copy(tmp_path)), load_profile(Path("configs/profiles/cpu.cfg"))
    assert (copy.train["learn_rate"], copy.train["max_epochs"], copy.train["max_steps"]) == (1e-4, 7, 0)
    unchanged = lambda train: {k: v for k, v in train.items()  # noqa: E731
                               if k not in ("learn_rate", "max_epochs", "max_steps")}
    assert unchanged(copy.train) == unchanged(stock.train) and copy.encoder == stock.encoder
    stock_run = load_profile(Systems(tmp_path, "encoder", "es", tmp_path).profile_copy(tmp_path))
    assert (stock_run.train["max_epochs"], stock_run.train["max_steps"]) == (0, 3600)  # the profile's updates


def test_under_a_budget_of_updates_the_peers_that_count_epochs_get_as_many_as_those_updates_make(tmp_path):
    """The cpu profile's budget is 3,600 updates of one document: over 500 training documents the
    transformer peers train ceil(7.2) = 8 epochs; --epochs N is N epochs for everyone, no updates cap.
    The budget names the results file."""
    sys.path.insert(0, str(BENCH))
    import accuracy

    DocBin(docs=[blank_nlp()(f"Nota {i}.") for i in range(500)]).to_disk(tmp_path / "train.spacy")
    stock = accuracy.Systems(tmp_path, "encoder", "es", tmp_path)
    assert (stock.train["max_epochs"], stock.train["max_steps"], stock.epochs) == (0, 3600, 8)
    assert accuracy.budget_suffix(stock.train) == "-3600up-min3ep" and stock.max_steps == 3600
    (tmp_path / "large").mkdir()
    DocBin(docs=[blank_nlp()(f"Nota {i}.") for i in range(1500)]).to_disk(tmp_path / "large" / "train.spacy")
    large = accuracy.Systems(tmp_path / "large", "encoder", "es", tmp_path)
    assert (large.max_steps, large.epochs) == (4500, 3)  # the profile's min_epochs past its 3,600 updates
    fixed = accuracy.Systems(tmp_path, "encoder", "es", tmp_path, epochs=6)
    assert (fixed.train["max_steps"], fixed.epochs) == (0, 6) and accuracy.budget_suffix(fixed.train) == "-6ep"
    assert accuracy.budget_suffix({"max_epochs": 3}) == "" and accuracy.budget_suffix({"max_epochs": 3, "max_steps": 9}) == "-3ep-9up"


@pytest.mark.parametrize("system,teacher", [("clinx-distilled", "clinx-folds-features"),
                                            ("clinx-distilled-2026-12-04", "clinx-folds-2026-12-04")])
def test_the_distilled_system_learns_from_its_folds_ensemble_and_needs_it_first(tmp_path, monkeypatch, system, teacher):
    """A distilled system runs the workflow's distill step on its folds system's ensemble and splits,
    with the run's profile; without that ensemble it says which system to run first."""
    import typer

    sys.path.insert(0, str(BENCH))
    import accuracy

    monkeypatch.chdir(BENCH.parent)
    systems = accuracy.Systems(tmp_path / "data", "encoder", "en", tmp_path, epochs=2)
    with pytest.raises(typer.BadParameter, match=f"run --system {teacher} first"):
        systems.runner(system)(tmp_path / system)
    (tmp_path / teacher / "ensemble").mkdir(parents=True)
    (tmp_path / teacher / "ensemble" / "meta.json").write_text("{}")
    calls = []
    monkeypatch.setattr(accuracy, "clinx", lambda *args: calls.append(args))
    monkeypatch.setattr(accuracy, "score_pipeline", lambda model, test: {"spans_char_f": 0.5, "model": model})
    out = tmp_path / system
    out.mkdir()
    scores = systems.runner(system)(out)
    (args,) = calls
    folds = tmp_path / teacher
    assert args[:6] == ("distill", Path("configs/en_clinx_ner.cfg"), folds / "ensemble", folds / "splits",
                        out / "data", out / "student")
    options = dict(zip(args[6::2], args[7::2]))
    assert options["--encoder"] == "encoder" and options["--teacher-weight"] == accuracy.TEACHER_WEIGHT
    assert load_profile_epochs(options["--profile"]) == 2
    assert scores["model"] == out / "student" / "split0" / "model-last"


def load_profile_epochs(path):
    from spacy_clinx.workflow.profiles import load_profile

    return load_profile(path).train["max_epochs"]


def test_the_transfer_study_keeps_rows_another_run_recorded_meanwhile(tmp_path):
    sys.path.insert(0, str(BENCH))
    from transfer_study import read_results, record

    path = tmp_path / "transfer.json"
    record(path, "pharmaconer", "500", {"none": 10.0}, [{"source": "meddocan"}], "2026-11-23")
    other = read_results(path)
    other["f1"]["meddocan"] = {"500": {"none": 50.0}}  # the other run, on the other core
    path.write_text(json.dumps(other))
    saved = record(path, "pharmaconer", "1000", {"none": 12.0}, [], "2026-11-24")
    assert saved == read_results(path)
    assert saved["f1"] == {"pharmaconer": {"500": {"none": 10.0}, "1000": {"none": 12.0}},
                           "meddocan": {"500": {"none": 50.0}}}
    assert saved["dates"]["pharmaconer"] == {"500": "2026-11-23", "1000": "2026-11-24"}
    assert saved["budgets"]["pharmaconer"] == {"500": "", "1000": ""}  # none given: a row of before budgets
    saved = record(path, "pharmaconer", "250", {"none": 8.0}, [], "2026-12-08", "3600 updates")
    assert saved["budgets"]["pharmaconer"]["250"] == "3600 updates" and saved["f1"]["meddocan"]["500"]["none"] == 50.0


def test_the_transfer_studys_rows_record_their_budget_in_updates_or_epochs():
    sys.path.insert(0, str(BENCH))
    from transfer_study import budget_label

    assert budget_label({"max_epochs": 0, "max_steps": 3600}, 200) == "3600 updates"
    assert budget_label({"max_epochs": 0, "max_steps": 100}, 200) == "200 updates"  # min_steps lifts a small budget
    assert budget_label({"max_epochs": 3, "max_steps": 0}, 200) == "3 epochs, at least 200 updates"
    assert budget_label({"max_epochs": 0, "max_steps": 3600, "min_epochs": 3}, 200) == "3600 updates, at least 3 epochs"


def test_the_transfer_study_backfills_vocabulary_coverage_for_sources_but_not_the_no_transfer_reference(tmp_path):
    sys.path.insert(0, str(BENCH))
    from transfer_study import add_coverage

    nlp = blank_nlp()
    for name, text in (("target", "dolor abdominal agudo"), ("meddocan", "dolor agudo en el pecho")):
        (tmp_path / name).mkdir()
        DocBin(docs=[nlp(text)]).to_disk(tmp_path / name / "train.spacy")
    reference = {"source": "none", "model": "encoder", "model_similarity": 0.7, "no_transfer": True}
    ranking = [{"source": "meddocan", "model_similarity": 0.8}, dict(reference)]
    assert add_coverage(ranking, tmp_path / "target" / "train.spacy", tmp_path)
    assert ranking[0]["vocabulary_coverage"] == pytest.approx(2 / 3)  # "dolor", "agudo"; not "abdominal"
    assert ranking[1] == reference
    assert not add_coverage(ranking, tmp_path / "target" / "train.spacy", tmp_path)  # nothing left to fill


def test_the_transfer_study_trains_only_the_source_models_that_rows_still_to_run_start_from():
    sys.path.insert(0, str(BENCH))
    from transfer_study import sources_needed

    recorded = {"meddocan": {"250": []}, "pharmaconer": {"250": []}}
    assert sources_needed(["meddocan"], ["250"], recorded, redo=False) == []
    assert sources_needed(["meddocan"], ["250"], recorded, redo=True) == ["pharmaconer", "meddoprof_ner",
                                                                           "meddoprof_class"]
    assert sources_needed(["meddocan", "pharmaconer"], ["250", "500"], recorded, redo=False) == [
        "meddocan", "pharmaconer", "meddoprof_ner", "meddoprof_class"]
    assert sources_needed(["meddoprof_ner"], ["7500"], recorded, redo=False) == ["meddocan", "pharmaconer",
                                                                                  "meddoprof_class"]


def test_the_transfer_study_trains_a_rows_models_side_by_side_and_stops_after_a_failure(tmp_path, monkeypatch):
    """``--jobs 2``: two models at a time, each told to log and given one share of the cores; after a
    failure the models not yet started are not trained, and the failure is what the row reports."""
    import threading
    import time

    sys.path.insert(0, str(BENCH))
    import transfer_study

    lock, running, calls = threading.Lock(), [0], []

    def fake_train(source, train_data, dev, output, min_steps, profile, env=None, to_log=False):
        with lock:
            running[0] += 1
            calls.append((output.name, running[0], env["OMP_NUM_THREADS"], to_log))
        time.sleep(0.4 if output.name == "none" else 0.1)  # "a" fails while "none" still runs
        with lock:
            running[0] -= 1
        if output.name == "a":
            raise RuntimeError("a failed")
        return output / "model-best"

    monkeypatch.setattr(transfer_study, "train", fake_train)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    starts = {name: tmp_path / name for name in ("none", "a", "b", "c")}
    with pytest.raises(RuntimeError, match="a failed"):
        transfer_study.train_side_by_side(starts, tmp_path / "t", tmp_path / "d", tmp_path, 1, {}, jobs=2)
    assert [name for name, *_ in calls] == ["none", "a"]
    assert max(n for _, n, *_ in calls) == 2 and all(threads == "1" and log for *_, threads, log in calls)
    calls.clear()
    monkeypatch.setattr(transfer_study, "train", lambda s, t, d, output, *rest: output / "model-best")
    assert transfer_study.train_side_by_side(starts, tmp_path / "t", tmp_path / "d", tmp_path, 1, {}, jobs=2) == {
        name: tmp_path / name / "model-best" for name in starts}


def test_the_transfer_report_counts_each_selection_methods_right_choices_over_all_rows(tmp_path):
    """The summary is computed from the rows, so it cannot go stale as rows are added."""
    sys.path.insert(0, str(BENCH))
    from transfer_study import write_report

    def ranking(by_model, by_overlap):
        """``by_model`` first, then the no-transfer reference, then the other sources."""
        first, *rest = [{"source": s, "model_similarity": 0.6 if s == by_model else 0.5,
                         "vocabulary_overlap": float(s == by_overlap)}
                        for s in sorted(("meddocan", "pharmaconer", "meddoprof_class"), key=lambda s: s != by_model)]
        return [first, {"source": "none", "model_similarity": 0.55, "no_transfer": True}, *rest]

    f1 = {"meddoprof_ner": {"250": {"none": 9.0, "meddocan": 8.0, "pharmaconer": 6.0, "meddoprof_class": 34.0},
                            "500": {"none": 20.0, "meddocan": 16.0, "pharmaconer": 9.0, "meddoprof_class": 15.0}}}
    rankings = {"meddoprof_ner": {"250": ranking("meddoprof_class", "pharmaconer"),
                                  "500": ranking("meddoprof_class", "meddoprof_class")}}
    report = tmp_path / "transfer.md"
    write_report(report, {"f1": f1, "rankings": rankings, "dates": {}, "budgets": {"meddoprof_ner": {"500": "3600 updates"}}},
                 150, 1)
    rows = report.read_text().split("## Source selection over all rows")[0]
    assert rows.count("| not recorded |") == 1 and rows.count("| 3600 updates |") == 1  # each row says its budget
    summary = report.read_text().split("## Source selection over all rows")[1]
    assert "Transfer beats `none` in 1 of 2 rows: meddoprof_ner 250 (meddoprof_class +25.00)." in summary
    assert "| model similarity, best source first | 1 of 2 | meddoprof_ner 500 |" in summary
    assert "| vocabulary overlap, best source first | 0 of 2 | every row |" in summary
    # at 500 no source beats none, but the reference was ranked below a source
    assert "transfer or not, and from which | 1 of 2 | meddoprof_ner 500 |" in summary


def test_the_transfer_studys_all_row_reuses_the_source_model_and_gets_its_budget(tmp_path):
    sys.path.insert(0, str(BENCH))
    from transfer_study import row_budget, write_report

    profile, sources = {"max_epochs": 3}, {"max_epochs": 1}
    assert row_budget("all", profile, sources) == (True, sources)
    assert row_budget("7500", profile, sources) == (False, profile)
    row = {"none": 80.0, "meddocan": 81.0, "pharmaconer": 79.0, "meddoprof_class": 78.0}
    ranking = [{"source": s, "model_similarity": 0.5} for s in ("meddocan", "pharmaconer", "meddoprof_class")]
    report = tmp_path / "transfer.md"
    write_report(report, {"f1": {"meddoprof_ner": {"all": row}}, "rankings": {"meddoprof_ner": {"all": ranking}},
                          "dates": {}, "budgets": {}}, 150, 1)
    header = report.read_text().split("## Target")[0]
    assert "size `all`: the source models' budget" in header and "--size all --source-epochs 1" in header


def test_bootstrap_f1_of_summed_document_counts_is_the_micro_f1():
    import numpy

    sys.path.insert(0, str(BENCH))
    from common import f1, f1_interval, interval

    counts = numpy.array([[3, 1, 0], [0, 0, 2], [5, 2, 1]], dtype=float)  # tp, fp, fn per document
    assert f1(counts.sum(0)) == 2 * 8 / (2 * 8 + 3 + 3)
    assert f1(numpy.zeros(3)) == 0.0
    low, high = interval(f1(counts[numpy.random.default_rng(0).integers(0, 3, (500, 3))].sum(1)))
    assert low <= 100 * f1(counts.sum(0)) <= high
    assert f1_interval(counts, samples=500) == [low, high]  # the same seeded draws


def test_bootstrap_predicts_a_pipeline_once_per_test_set_and_again_after_it_changes(tmp_path, monkeypatch):
    import os

    import numpy

    sys.path.insert(0, str(BENCH))
    import bootstrap

    model, test = tmp_path / "model", tmp_path / "test.spacy"
    model.mkdir()
    (model / "weights").write_bytes(b"1")
    test.write_bytes(b"docs")
    predicted = []

    def predict(name, path):
        predicted.append(name)
        return numpy.full((2, 3), float(len(predicted)))

    monkeypatch.setattr(bootstrap, "COUNTS_CACHE", tmp_path / "cache")
    monkeypatch.setattr(bootstrap, "predicted_document_counts", predict)
    first = bootstrap.model_document_counts(str(model), test)
    assert (bootstrap.model_document_counts(str(model), test) == first).all() and len(predicted) == 1
    (model / "weights").write_bytes(b"22")  # retrained: other weights
    os.utime(model / "weights", ns=(1, 1))
    assert bootstrap.model_document_counts(str(model), test)[0, 0] == 2.0
    other_test = tmp_path / "other.spacy"
    other_test.write_bytes(b"docs")
    bootstrap.model_document_counts(str(model), other_test)
    assert len(predicted) == 3
    code = tmp_path / "spacy_clinx"  # a change to the prediction code predicts again
    code.mkdir()
    (code / "__init__.py").write_text("")
    monkeypatch.setattr(bootstrap.importlib.util, "find_spec",
                        lambda name: type("Spec", (), {"origin": str(code / "__init__.py")}))
    bootstrap.model_document_counts(str(model), test)
    assert len(predicted) == 4


def test_bootstrap_names_a_missing_model_or_test_set_before_predicting(tmp_path):
    sys.path.insert(0, str(BENCH))
    import bootstrap
    import typer

    (tmp_path / "test.spacy").write_bytes(b"")
    results = tmp_path / "results.json"
    with pytest.raises(typer.BadParameter, match="no such DocBin file"):
        bootstrap.main(str(tmp_path), str(tmp_path), test=tmp_path / "no.spacy", name="x", results=results)
    with pytest.raises(typer.BadParameter, match="neither a pipeline folder nor an installed package"):
        bootstrap.main(str(tmp_path / "no-model"), str(tmp_path), test=tmp_path / "test.spacy", name="x",
                       results=results)
    assert not results.exists()


def test_the_report_shows_an_f1_with_its_interval_where_one_was_recorded(tmp_path):
    from accuracy import write_report

    results = tmp_path / "results" / "ncbi_disease" / "minilm.json"
    results.parent.mkdir(parents=True)
    old = {"spans_char_p": 0.8, "spans_char_r": 0.7, "spans_char_f": 0.75, "learn_rate": 1e-4, "epochs": 3}
    new = {**old, "spans_char_f_95": [71.25, 78.5], "learn_rate": 5e-5, "epochs": None}
    results.write_text(json.dumps({"clinx": old, "spacy-trf-recipe": new}))
    write_report(tmp_path / "accuracy.md", tmp_path / "results")
    rows = {line.split(" | ")[0]: line for line in (tmp_path / "accuracy.md").read_text().splitlines()}
    assert "| 75.00 | 0.0001 | 3 |" in rows["| clinx"]
    assert "| 75.00 [71.25, 78.50] | 5e-05 | - |" in rows["| spacy-trf-recipe"]


def test_the_flair_recipe_trains_with_flerts_settings_and_the_shared_budget_peer_with_clinxs(tmp_path, monkeypatch):
    """flair-recipe is flair's own fine-tuning recipe (no CRF, batches of 4 one sentence at a time,
    5e-6, 10 epochs, 64 tokens of context); flair keeps clinx's budget and a CRF."""
    sys.path.insert(0, str(BENCH))
    import accuracy
    import exchange

    calls = []
    monkeypatch.setattr(accuracy, "run_flair_peer", lambda *args: calls.append(args) or {})
    monkeypatch.setattr(exchange, "score_predictions", lambda *args: {"spans_char_f": 0.5})
    monkeypatch.setattr(accuracy.Systems, "exchange_files", lambda self: {"train": "T", "dev": "D", "test": "E"})
    systems = accuracy.Systems(tmp_path, "encoder", "en", tmp_path, learn_rate=1e-4, epochs=3)
    row = systems.runner("flair-recipe")(tmp_path / "recipe")
    options = lambda call: dict(zip(call[5::2], call[6::2]))  # noqa: E731
    assert calls[0][:5] == ("train", "T", "D", "encoder", tmp_path / "recipe") and "--no-crf" in calls[0]
    recipe = options([a for a in calls[0] if a != "--no-crf"])
    assert {k: recipe[k] for k in ("--epochs", "--lr", "--batch-size", "--context", "--chunk-size")} == {
        "--epochs": 10, "--lr": 5e-6, "--batch-size": 4, "--context": 64, "--chunk-size": 1}
    assert (row["learn_rate"], row["epochs"]) == (5e-6, 10)
    calls.clear()
    systems.runner("flair")(tmp_path / "shared")
    shared = options([a for a in calls[0] if a != "--crf"])
    assert "--crf" in calls[0] and (shared["--epochs"], shared["--lr"], shared["--context"]) == (3, 1e-4, 100)


def test_a_variant_that_sets_its_own_windows_or_ran_before_no_overlap_training_trains_on_them():
    """The profile trains on windows without overlap since 2026-12-04. A variant with its own prediction
    windows (sentences, another centre) must train on them too, and the recorded rows of before must keep
    training on their prediction windows; only the profile's rows and the no-overlap study train apart."""
    from accuracy import PROFILE, VARIANTS
    from spacy.util import load_config, registry

    import spacy_clinx  # noqa: F401  (registers the window plans)
    from spacy_clinx.workflow.profiles import load_profile
    from spacy_clinx.workflow.train_splits import training_overrides

    base = training_overrides(load_profile(BENCH.parent / PROFILE).train, 0, train_docs=600)
    apart = set()
    for name, variant in VARIANTS.items():
        config = load_config(BENCH.parent / "configs/es_clinx_ner.cfg", overrides={**base, **variant},
                             interpolate=True)
        model = config["components"]["clinx_ner"]["model"]
        plans = registry.resolve({"predict": model["windows"], "train": model["train_windows"]})
        if plans["predict"] != plans["train"]:
            apart.add(name)
    assert apart == {"clinx", "clinx-softmax", "clinx-word", "clinx-bio", "clinx-features", "clinx-features-b1",
                     "clinx-train-no-overlap", "clinx-default-2026-12-04", "clinx-bf16", "clinx-bf16-averages",
                     "clinx-averages", "clinx-default-2026-12-04-seed1", "clinx-dropout0.3"}


def test_a_benchmark_run_waits_while_another_prepares_the_same_corpus(tmp_path, monkeypatch):
    """Two runs started side by side (one per core) prepare a corpus in turn: while one holds the
    corpus, the other converts nothing, then finds it ready (before, both converted into the same
    folders and one failed)."""
    import fcntl
    import threading
    import time

    import common

    calls = []

    def fake_clinx(command, source, target, *args):  # fetch-corpus, then convert per split
        calls.append(command)
        if command == "convert":
            Path(target).write_bytes(b"")

    monkeypatch.setattr(common, "clinx", fake_clinx)
    (tmp_path / "corpus" / "meddocan").mkdir(parents=True)
    lock = open(tmp_path / "corpus" / ".meddocan.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # the other run is preparing the corpus
    done = []
    waiting = threading.Thread(target=lambda: done.append(common.prepare_corpus("meddocan", tmp_path, tmp_path)))
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive() and calls == []
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    waiting.join(timeout=10)
    assert done == [tmp_path / "corpus" / "meddocan"] and calls == ["fetch-corpus"] + ["convert"] * 3
    common.prepare_corpus("meddocan", tmp_path, tmp_path)  # ready now: nothing converted again
    assert len(calls) == 4


def test_error_kinds_tell_spurious_entities_from_boundary_errors():
    from error_kinds import error_kinds

    gold = {("DISEASE", 0, 10), ("DISEASE", 20, 30), ("DISEASE", 40, 50)}
    predicted = {("DISEASE", 0, 10), ("DISEASE", 22, 30), ("DRUG", 40, 50), ("DISEASE", 60, 65)}
    assert error_kinds(gold, predicted) == {"tp": 1, "fp_spurious": 1, "fp_boundary": 2, "fn_missed": 0,
                                            "fn_boundary": 2}
    assert error_kinds(gold, set())["fn_missed"] == 3


def test_error_kinds_names_bad_thresholds_in_one_line():
    import typer
    from error_kinds import parse_cuts

    assert parse_cuts("0.5,0.9") == [0.5, 0.9] and parse_cuts("") == []
    with pytest.raises(typer.BadParameter, match="--thresholds '0.5,high': give comma-separated numbers"):
        parse_cuts("0.5,high")
