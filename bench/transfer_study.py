"""Cross-task transfer study (paper Tables 5 and 6): targets x sources x training sizes.

1. The study corpora, converted: MEDDOCAN, PharmaCoNER and the two MEDDOPROF tracks (test sets of
   the last three held out of their training data, see ``spacy_clinx/workflow/corpora.py``).
2. One Spanish encoder for all models: the cpu profile's bootstrapped encoder and MLM on the
   train+dev texts of all four corpora (never a test text).
3. Source models (``sources/``): one ``clinx_ner`` per corpus on its whole training set (model
   selection on dev), those the rows to run need trained first, ``--jobs`` at a time.
4. Targets: for each corpus and size n, the first n training sentences (corpus order); one model
   from the encoder alone (no transfer) and one from each other corpus's source model, all with the
   same budget. For size ``all`` the models get the source models' budget (``--source-epochs``), and
   the no-transfer model is the target's own source model (trained on that data with that budget).
5. The source ranking by model similarity (target = the no-transfer model of that size), with the
   shared encoder as the no-transfer reference, and by vocabulary overlap and coverage, against the
   source that actually scored best (and against no transfer, for the reference).

Every model is trained by the package's own commands and kept; a stopped study resumes where it
stopped. Each finished target and size also goes to ``bench/results/transfer.json`` (committed): the
models in ``bench/work`` do not outlive a machine, and the whole study takes longer than one session,
so a run on a fresh checkout skips what is recorded there (``--redo`` to run it again). Results:
``docs/transfer.md``, built from that file.

    python bench/transfer_study.py --corpora-dir ../shared/corpora [--jobs 2]

``--jobs 2`` trains two models at once (the source models first, then a row's target models), each
with half the cores (unless ``OMP_NUM_THREADS`` is set) and its output in its folder's ``train.log``.
"""
import json
import math
import subprocess
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import typer
from common import clinx, machine, prepare_corpus, write_markdown
from spacy.tokens import DocBin

from spacy_clinx.schedules import count_documents
from spacy_clinx.workflow.train_splits import (override_args, parallel_env, side_by_side, training_overrides,
                                              updates_cap)

CORPORA = ["meddocan", "pharmaconer", "meddoprof_ner", "meddoprof_class"]
CONFIG = Path("configs/es_clinx_ner.cfg")
PROFILE = Path("configs/profiles/cpu.cfg")


def budget(train: Path, min_steps: int, profile: Dict) -> List[str]:
    """The profile's training overrides, with more epochs (or updates, for a budget of updates) where
    needed for ``min_steps`` updates."""
    if profile["max_epochs"] < 1:  # a budget of updates (at least the profile's min_epochs)
        steps = max(updates_cap(profile, count_documents(train)), min_steps)
        longer = {"max_steps": steps, "min_epochs": 0}
    else:
        steps_per_epoch = math.ceil(len(DocBin().from_disk(train)) / profile["batch_size"])
        epochs = max(profile["max_epochs"], math.ceil(min_steps / steps_per_epoch))
        steps, longer = epochs * steps_per_epoch, {"max_epochs": epochs, "min_epochs": 0}
    evaluate_every = max(1, steps // 6)  # about 6 dev evaluations per model, however small its data
    return override_args(training_overrides({**profile, **longer, "eval_frequency": evaluate_every}, 0))


def train(source: Path, train_data: Path, dev: Path, output: Path, min_steps: int, profile: Dict,
          env: Optional[Dict[str, str]] = None, to_log: bool = False) -> Path:
    """A target model from ``source`` (pipeline or encoder folder); skipped when already finished.
    ``to_log``: its output goes to ``output/train.log`` (for models trained side by side)."""
    done = output / "finished.json"
    if not done.exists():
        args = ("transfer", source, CONFIG, "--output", output, "--paths.train", train_data, "--paths.dev", dev,
                *budget(train_data, min_steps, profile))
        if to_log:
            output.mkdir(parents=True, exist_ok=True)
            typer.echo(f"training {output} (log: {output / 'train.log'})")  # one write: no lines torn by the other thread
            with (output / "train.log").open("a", encoding="utf8") as log:
                clinx(*args, stdout=log, stderr=subprocess.STDOUT, env=env)
        else:
            clinx(*args, env=env)
        done.write_text(json.dumps({"source": str(source), "train": str(train_data)}))
    return output / "model-best"


def train_side_by_side(starts: Dict[str, Path], train_data: Path, dev: Path, folder: Path, min_steps: int,
                       profile: Dict, jobs: int) -> Dict[str, Path]:
    """One target model per start (``folder/NAME``), ``jobs`` at a time, each with its share of the
    cores; a failure stops the models not yet started."""
    env = parallel_env(jobs, -1)
    models = side_by_side(lambda name: train(starts[name], train_data, dev, folder / name, min_steps, profile,
                                             env, jobs > 1), list(starts), jobs)
    return dict(zip(starts, models))


def f1_on_test(model: Path, test: Path) -> float:
    scores = model.parent / "test-scores.json"
    if not scores.exists():
        from spacy.cli.evaluate import evaluate

        scores.write_text(json.dumps(evaluate(str(model), test, silent=True)))
    return 100 * json.loads(scores.read_text())["spans_char_f"]


def rank(target_model: Path, target_train: Path, sources: Dict[str, Path], corpus_dir: Path, encoder: Path,
         out: Path) -> List[Dict]:
    if not out.exists():
        specs = [f"{name}={path}" for name, path in sources.items()]
        texts = [f"--source-texts={name}={corpus_dir / name / 'train.spacy'}" for name in sources]
        clinx("rank-sources", target_model, target_train, *specs, *texts, "--no-transfer", encoder, "--output", out)
    ranking = json.loads(out.read_text())
    add_reference(ranking, target_model, target_train, encoder)  # a ranking.json from before the reference
    return ranking


def add_reference(ranking: List[Dict], target_model: Path, target_train: Path, encoder: Path) -> bool:
    """The no-transfer reference (the shared encoder) for a ranking recorded without it, when the
    target model is on this machine; True when the ranking changed."""
    if any(row.get("no_transfer") for row in ranking) or not target_model.exists():
        return False
    from spacy_clinx.corpora.docs import docbin_texts
    from spacy_clinx.transfer.similarity import rank_sources

    ranking += rank_sources(str(target_model), docbin_texts(target_train), {}, no_transfer=str(encoder))
    ranking.sort(key=lambda r: (-r["model_similarity"], r["source"]))
    return True


def add_coverage(ranking: List[Dict], target_train: Path, corpus_dir: Path) -> bool:
    """Vocabulary coverage for a ranking recorded before the study measured it (texts only, no
    model; the no-transfer reference has no texts); True when a row changed."""
    from spacy_clinx.corpora.docs import docbin_texts
    from spacy_clinx.transfer.similarity import vocabulary_coverage

    missing = [row for row in ranking if "vocabulary_coverage" not in row and not row.get("no_transfer")]
    if missing:
        target = docbin_texts(target_train)
        for row in missing:
            row["vocabulary_coverage"] = vocabulary_coverage(target, docbin_texts(corpus_dir / row["source"] / "train.spacy"))
    return bool(missing)


def main(
    corpora_dir: Path = typer.Option(Path("../shared/corpora"), help="folder holding the corpora"),
    workdir: Path = typer.Option(Path("bench/work/transfer")),
    targets: List[str] = typer.Option(CORPORA, "--target"),
    sizes: List[str] = typer.Option(["250", "1000"], "--size", help="training sentences; 'all' for all"),
    min_steps: int = typer.Option(150, help="at least this many updates per model"),
    source_epochs: int = typer.Option(0, help="epochs of the source models (0: the profile's)"),
    results_file: Path = typer.Option(Path("bench/results/transfer.json"), help="committed results of finished rows"),
    redo: bool = typer.Option(False, help="recompute rows already in --results-file"),
    jobs: int = typer.Option(1, help="target models of a row trained at once (each logs to its train.log)"),
    report: Path = typer.Option(Path("docs/transfer.md")),
) -> None:
    from spacy_clinx.workflow.profiles import load_profile

    profile = load_profile(PROFILE).train
    source_profile = {**profile, "max_epochs": source_epochs, "max_steps": 0} if source_epochs else profile
    data = {name: prepare_corpus(name, corpora_dir, workdir) for name in CORPORA}
    encoder = workdir / "encoder"
    if not (encoder / "config.json").exists():
        texts = [a for name in CORPORA if name != "meddoprof_class"  # the same texts as meddoprof_ner
                 for split in ("train", "dev") for a in ("-t", workdir / "assets" / name / split)]
        clinx("encoder", encoder, *texts, "--profile", PROFILE, "--lang", "es")
    def source(name: str, env: Optional[Dict[str, str]] = None, to_log: bool = False) -> Path:
        """The source model of corpus ``name`` (``train`` skips a finished model)."""
        return train(encoder, data[name] / "train.spacy", data[name] / "dev.spacy", workdir / "sources" / name,
                     min_steps, source_profile, env, to_log)

    saved = read_results(results_file)
    results: Dict[str, Dict[str, Dict[str, float]]] = saved["f1"]
    rankings: Dict[str, Dict[str, List[Dict]]] = saved["rankings"]
    dates: Dict[str, Dict[str, str]] = saved["dates"]
    budgets: Dict[str, Dict[str, str]] = saved["budgets"]
    env = parallel_env(jobs, -1)
    side_by_side(lambda name: source(name, env, jobs > 1), sources_needed(targets, sizes, rankings, redo), jobs)
    for target in targets:
        for size in sizes:
            subset = data[target] / f"train-first{size}.spacy"
            if not subset.exists():
                clinx("subset", data[target] / "train.spacy", subset, "--sentences", "0" if size == "all" else size)
            folder = workdir / "models" / target / size
            reuse_source, row_profile = row_budget(size, profile, source_profile)
            base_model = workdir / "sources" / target / "model-best" if reuse_source else folder / "none" / "model-best"
            if recorded(rankings, target, size, redo):
                ranking = rankings[target][size]
                changed = add_coverage(ranking, subset, workdir / "corpus")
                if add_reference(ranking, base_model, subset, encoder) or changed:
                    record(results_file, target, size, results[target][size], rankings[target][size],
                           dates.get(target, {}).get(size, ""), budgets.get(target, {}).get(size, ""))
                continue
            row = results.setdefault(target, {}).setdefault(size, {})
            others = {name: source(name) for name in CORPORA if name != target}
            starts = others if reuse_source else {"none": encoder, **others}
            models = train_side_by_side(starts, subset, data[target] / "dev.spacy", folder, min_steps, row_profile, jobs)
            base = source(target) if reuse_source else models["none"]
            row["none"] = f1_on_test(base, data[target] / "test.spacy")
            for name in others:
                row[name] = f1_on_test(models[name], data[target] / "test.spacy")
            rankings.setdefault(target, {})[size] = rank(base, subset, others, workdir / "corpus", encoder,
                                                         folder / "ranking.json")
            dates.setdefault(target, {})[size] = str(date.today())
            budgets.setdefault(target, {})[size] = budget_label(row_profile, min_steps)
            saved = record(results_file, target, size, row, rankings[target][size], dates[target][size],
                           budgets[target][size])
            write_report(report, saved, min_steps, source_epochs)
    write_report(report, read_results(results_file), min_steps, source_epochs)


def row_budget(size: str, profile: Dict, source_profile: Dict) -> Tuple[bool, Dict]:
    """Whether a row's no-transfer model is the target's own source model, and its models' budget.
    With all its data it is (the source model was trained on just that), and the transfer models get
    the source models' budget: the profile's epochs of four whole corpora would take 3 times as long
    (about 9 h two at a time on 2 CPU cores)."""
    return (True, source_profile) if size == "all" else (False, profile)


def recorded(rankings: Dict, target: str, size: str, redo: bool) -> bool:
    """Whether a row is in the results file and so skipped (unless ``--redo``)."""
    return not redo and size in rankings.get(target, {})


def sources_needed(targets: List[str], sizes: List[str], rankings: Dict, redo: bool) -> List[str]:
    """The source models the rows still to run start from: trained first, side by side, rather than
    one at a time as rows come up (on a fresh machine that is all four, before the first row)."""
    to_run = [(t, s) for t in targets for s in sizes if not recorded(rankings, t, s, redo)]
    return [name for name in CORPORA if any(name != t for t, _ in to_run)]


def read_results(results_file: Path) -> Dict[str, Dict]:
    saved = json.loads(results_file.read_text()) if results_file.exists() else {}
    return {key: saved.get(key, {}) for key in ("f1", "rankings", "dates", "budgets")}


def budget_label(profile: Dict, min_steps: int) -> str:
    """A row's models' training budget, as :func:`budget` gives it, in words for its results."""
    if profile["max_epochs"] < 1:
        floor = profile.get("min_epochs", 0)
        return f"{max(profile['max_steps'], min_steps)} updates" + (f", at least {floor} epochs" if floor else "")
    return f"{profile['max_epochs']} epochs, at least {min_steps} updates"


def record(results_file: Path, target: str, size: str, row: Dict, ranking: List[Dict], day: str,
           budget: str = "") -> Dict:
    """Add one finished target and size to the results file, read again first: two runs of the
    study (one per core, different targets) may share the file. ``budget``: its models' training
    budget (:func:`budget_label`; rows recorded before budgets were have none)."""
    saved = read_results(results_file)
    for key, value in (("f1", row), ("rankings", ranking), ("dates", day), ("budgets", budget)):
        saved[key].setdefault(target, {})[size] = value
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(saved, indent=1) + "\n")
    return saved


METHODS = {"model sim.": "model similarity, best source first",
           "overlap": "vocabulary overlap, best source first",
           "coverage": "vocabulary coverage, best source first",
           "model sim. + ref.": "model similarity with the no-transfer reference: transfer or not, and from which"}


def picks(row: Dict[str, float], ranking: List[Dict], sources: List[str], best: str) -> Dict[str, Tuple[str, str]]:
    """Each selection method's choice for one row, with the choice it should have made (``best``:
    the best source)."""
    chosen = {"model sim.": (next(r["source"] for r in ranking if not r.get("no_transfer")), best)}
    for method, key in (("overlap", "vocabulary_overlap"), ("coverage", "vocabulary_coverage")):
        chosen[method] = (max(ranking, key=lambda r: r.get(key, 0))["source"], best)
    if any(r.get("no_transfer") for r in ranking):
        chosen["model sim. + ref."] = (ranking[0]["source"], max(["none", *sources], key=lambda s: row[s]))
    return chosen


def write_report(path: Path, saved: Dict, min_steps: int, source_epochs: int) -> None:
    """All recorded rows (``saved``: :func:`read_results`), and how often each selection method chose
    right over them; the command is the one that reproduces every row."""
    results, rankings, dates, budgets = saved["f1"], saved["rankings"], saved["dates"], saved["budgets"]
    targets = [t for t in CORPORA if t in results]
    sizes = sorted({s for t in targets for s in results[t]}, key=lambda s: math.inf if s == "all" else int(s))
    lines = ["# Cross-task transfer and source selection", "",
             f"Updated {date.today()}. Machine: {machine()}. Profile `cpu` budgets, at least "
             f"{min_steps} updates per model" + (f", source models {source_epochs} epoch(s)" if source_epochs else "")
             + (" (size `all`: the source models' budget; its `none` is the target's own source model)"
                if "all" in sizes else "") + ". Command:", "", "```bash",
             "python bench/transfer_study.py --corpora-dir ../shared/corpora "
             + " ".join(f"--target {t}" for t in targets) + " " + " ".join(f"--size {s}" for s in sizes)
             + (f" --source-epochs {source_epochs}" if source_epochs else ""),
             "```", "",
             "Strict character-level F1 on each target's test set. `none`: no transfer (the study's shared",
             "encoder only); a corpus name: the target model starts from that corpus's source model's encoder.",
             "Predicted: the source ranked first by model similarity (R^2 of a linear map between features), by",
             "vocabulary overlap (Jaccard of the word types) and by vocabulary coverage (share of the target's",
             "running words found in the source's training texts), each against `best`, the best source. `+ ref.`:",
             "model similarity with the shared encoder ranked too, as the no-transfer reference `none`, against",
             "the best of `none` and the sources. Rows come from `bench/results/transfer.json`;",
             "a row's date says when (and so with which build of the shared encoder and source models) it was",
             "measured, its budget what its models trained (rows from before budgets were recorded: the `cpu`",
             "profile of their date).", ""]
    tally: Dict[str, List[Tuple[str, bool]]] = {method: [] for method in METHODS}  # (row, chose right)
    gains = []
    for target in targets:
        sources = [s for s in CORPORA if s != target]
        lines += [f"## Target {target}", "", "| sentences | none | " + " | ".join(sources) + " | best | "
                  + " | ".join(f"predicted ({method})" for method in METHODS) + " | date | budget |",
                  "|---|" + "---:|" * (len(sources) + 1) + "---|" * (len(METHODS) + 3)]
        for size in sizes:
            row = results[target].get(size)
            if not row or len(row) < len(sources) + 1:
                continue
            best = max(sources, key=lambda s: row[s])
            chosen = picks(row, rankings[target][size], sources, best)
            if row[best] > row["none"]:
                gains.append(f"{target} {size} ({best} {row[best] - row['none']:+.2f})")
            cells = []
            for method in METHODS:
                if method not in chosen:
                    cells.append("-")
                    continue
                choice, right = chosen[method]
                tally[method].append((f"{target} {size}", choice == right))
                cells.append(f"{choice} ({'right' if choice == right else 'wrong'})")
            lines.append(f"| {size} | {row['none']:.2f} | " + " | ".join(
                f"{row[s]:.2f} ({row[s] - row['none']:+.2f})" for s in sources) +
                f" | {best} | " + " | ".join(cells) + f" | {dates.get(target, {}).get(size, '')} | "
                f"{budgets.get(target, {}).get(size) or 'not recorded'} |")
        lines.append("")
    rows = len(tally["model sim."])
    lines += ["## Source selection over all rows", "",
              f"Transfer beats `none` in {len(gains)} of {rows} rows" + (": " + ", ".join(gains) if gains else "") + ".",
              "", "| method | right | wrong in |", "|---|---:|---|"]
    for method, description in METHODS.items():
        wrong = [name for name, chose_right in tally[method] if not chose_right]
        named = "-" if not wrong else "every row" if len(wrong) == len(tally[method]) else ", ".join(wrong)
        lines.append(f"| {description} | {len(tally[method]) - len(wrong)} of {len(tally[method])} | {named} |")
    lines.append("")
    write_markdown(path, lines)


if __name__ == "__main__":
    typer.run(main)
