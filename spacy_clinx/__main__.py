"""Command line: ``python -m spacy_clinx COMMAND`` (also installed as ``clinx``)."""
import os
from enum import Enum
from pathlib import Path
from typing import List

import spacy
import typer
from spacy.tokens import DocBin

from .corpora import ConversionReport, brat_dir_to_docs
from .corpora.brat import read_text
from .tokenizer import create_char_class_tokenizer

app = typer.Typer(help="spacy-clinx: CLIN-X clinical concept extraction for spaCy", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Commands of spacy-clinx."""


class CorpusFormat(str, Enum):
    auto = "auto"
    brat = "brat"
    pubtator = "pubtator"
    jsonl = "jsonl"


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    brat = "brat"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Redaction(str, Enum):
    mask = "mask"
    surrogate = "surrogate"


class PackageModel(str, Enum):
    ensemble = "ensemble"
    best = "best"


@app.command()
def convert(
    inputs: List[Path] = typer.Argument(..., help="brat folders (.txt + .ann, read recursively), PubTator files "
                                        "or JSONL files of {text, spans: [{start, end, label}]} (or folders of them)"),
    output: Path = typer.Argument(..., help="DocBin file to write (.spacy)"),
    lang: str = typer.Option("es", "--lang", "-l", help="spaCy language code"),
    fmt: CorpusFormat = typer.Option(CorpusFormat.auto, "--format", "-f", help="input format; auto: detected"),
    problems: Path = typer.Option(None, "--problems", help="also write every problem as TSV here"),
    strict: bool = typer.Option(False, "--strict", help="exit with status 1 if any gold entity was not placed "
                                "or any document could not be read"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="an input that does not exist gives an "
                                       "empty DocBin (the optional dev/ of a user's corpus)"),
) -> None:
    """Convert annotated documents (brat, PubTator, JSONL) to a spaCy DocBin, reporting every entity
    that could not be placed."""
    nlp = spacy.blank(lang)
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    report = ConversionReport()
    if allow_missing and not any(path.exists() for path in inputs):
        output.parent.mkdir(parents=True, exist_ok=True)
        DocBin(store_user_data=True).to_disk(output)
        typer.echo(f"{', '.join(map(str, inputs))} does not exist: wrote an empty DocBin to {output}")
        return
    if output.suffix != ".spacy":
        _fail(f"{output}: the output is a DocBin file ending in .spacy (the last argument; the others are inputs)")
    for path in inputs:
        if not path.exists():
            _fail(f"{path}: no such file or folder")
    db = DocBin(store_user_data=True)
    try:
        for doc in brat_dir_to_docs(nlp, inputs, report, fmt.value):
            db.add(doc)
    except (ValueError, FileNotFoundError) as err:
        _fail(f"{err}; nothing written")
    if not report.documents:
        _fail(f"{', '.join(map(str, inputs))}: no documents to convert; nothing written")
    output.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output)
    for problem in report.problems:
        if problem.kind != "ignored":
            typer.echo(f"  {problem}", err=True)
    if problems:
        problems.write_text("".join(f"{p.path}\t{p.line or ''}\t{p.ann_id or ''}\t{p.kind}\t{p.message}\n"
                                    for p in report.problems), encoding="utf8")
    typer.echo(report.summary())
    typer.echo(f"alignment: {100 * report.alignment_rate:.2f}% of {report.entities} gold entities on token "
               f"boundaries; wrote {report.documents} documents to {output}")
    if strict and (report.aligned < report.entities or report.skipped_documents):
        raise typer.Exit(1)


@app.command("init-encoder")
def init_encoder(
    output: Path = typer.Argument(..., help="directory to write the encoder (HF format) to"),
    texts: List[Path] = typer.Option(..., "--texts", "-t", help="directories of .txt files (never test documents)"),
    architecture: str = typer.Option("xlm-roberta", help="xlm-roberta (Unigram), bert (WordPiece) or longformer (BPE)"),
    vocab_size: int = typer.Option(8000, help="subword vocabulary size"),
    hidden_size: int = typer.Option(256),
    num_layers: int = typer.Option(4),
    num_heads: int = typer.Option(4),
    intermediate_size: int = typer.Option(1024),
    seed: int = typer.Option(0),
) -> None:
    """Train a subword tokenizer on clinical text and save a randomly initialised encoder with it."""
    from .encoders import bootstrap_encoder

    corpus = _texts(texts)
    vocab = bootstrap_encoder(corpus, architecture, output, vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                              num_heads=num_heads, intermediate_size=intermediate_size, seed=seed)
    typer.echo(f"{architecture} encoder ({num_layers} layers, {hidden_size} hidden, vocab {vocab}) "
               f"trained on {len(corpus)} texts: {output}")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)


def _texts(sources: List[Path]) -> List[str]:
    """Texts of DocBin files (a converted corpus) and of the .txt files under folders, in path order
    (so dev/ before train/, as the same folders' .txt files sorted)."""
    from .corpora.docs import docbin_texts

    texts = [t for s in sorted(sources) if s.suffix == ".spacy" and s.is_file() for t in docbin_texts(s)]
    files = sorted(f for s in sources if s.is_dir() for f in s.rglob("*.txt"))
    texts += [read_text(f) for f in files]
    if not texts:
        _fail(f"No texts in {', '.join(map(str, sources))} (DocBin files or folders of .txt files)")
    return texts


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_command(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="training config"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for model-best, model-last, checkpoint"),
    code: Path = typer.Option(None, "--code", "-c", help="Python file with registered functions, as spacy train's"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on; -1: CPU"),
) -> None:
    """Like `spacy train` (same config and --section.key overrides), but resumable: run it again
    after an interruption and it continues from its last checkpoint."""
    from spacy.cli._util import import_code, parse_config_overrides
    from thinc.api import require_gpu

    from .workflow.resumable_train import train

    if not config.is_file():
        _fail(f"{config}: no such config file (e.g. configs/es_clinx_ner.cfg)")
    if code is not None and not code.is_file():
        _fail(f"{code}: no such Python file (--code)")
    import_code(code)
    if gpu_id >= 0:
        require_gpu(gpu_id)
    train(config, output, parse_config_overrides(ctx.args), use_gpu=gpu_id)


@app.command("fetch-corpus")
def fetch_corpus_command(
    name: str = typer.Argument(..., help="meddocan or ncbi_disease"),
    output: Path = typer.Argument(..., help="folder to write train/, dev/, test/ to"),
    local: str = typer.Option("", "--local", help="folder holding NAME/ (default: $CLINX_CORPORA)"),
    url: str = typer.Option("", "--url", help="archive to download instead of the official one"),
) -> None:
    """Copy a corpus from a local folder, or download its official release, and check its digest."""
    from .workflow.corpora import CorpusUnavailable, fetch_corpus

    local_dir = local or os.environ.get("CLINX_CORPORA") or None
    try:
        origin, official = fetch_corpus(name, output, Path(local_dir) if local_dir else None, url or None)
    except CorpusUnavailable as err:
        _fail(str(err))
    typer.echo(f"{name}: {origin} -> {output}")
    if not official:
        typer.secho(f"{name}: the content differs from the official release (a partial or corrected copy)",
                    fg="yellow")


@app.command("encoder")
def encoder_command(
    output: Path = typer.Argument(..., help="folder to write the adapted encoder to"),
    texts: List[Path] = typer.Option(..., "--texts", "-t", help="DocBins (.spacy) or folders of .txt files "
                                     "(never test documents)"),
    profile: Path = typer.Option(Path("configs/profiles/cpu.cfg"), help="workflow profile"),
    lang: str = typer.Option("es", help="language, picks the profile's base model"),
    base_model: str = typer.Option("", help="HF hub name or local path; overrides the profile"),
    mlm_steps: int = typer.Option(-1, help="masked-LM steps; -1: the profile's"),
    unlabeled: str = typer.Option("", help="a folder of more .txt files for masked-LM (your own notes; never "
                                  "test documents); empty: none"),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU for masked-LM; -1: CPU"),
) -> None:
    """The encoder for the workflow: the profile's base model (or a bootstrapped small one)
    after masked-LM training on clinical text. Resumes an interrupted MLM run."""
    from dataclasses import replace

    from .device import DeviceUnavailable, torch_device
    from .workflow.mlm import train_mlm
    from .workflow.profiles import BOOTSTRAP, load_profile

    try:
        prof = load_profile(profile, seed)
        device = torch_device(gpu_id)
    except (FileNotFoundError, DeviceUnavailable) as err:
        _fail(str(err))
    if prof.encoder.get("base_model") == BOOTSTRAP and base_model:
        _fail(f"profile {prof.name} builds its own encoder and fine-tunes at lr {prof.train['learn_rate']:g}, a rate "
              f"for an encoder trained from scratch; for the pretrained encoder {base_model!r} use the profile "
              "'pretrained' (--vars.profile pretrained, or --profile configs/profiles/pretrained.cfg)")
    if mlm_steps >= 0:
        prof.mlm = replace(prof.mlm, steps=mlm_steps)
    base = prof.base_model(lang, base_model)
    if unlabeled and not Path(unlabeled).is_dir():
        _fail(f"{unlabeled}: not a folder of .txt files (--unlabeled / project var unlabeled_dir)")
    corpus = _texts([*texts, *([Path(unlabeled)] if unlabeled else [])])
    if base == BOOTSTRAP:
        from .encoders import bootstrap_encoder

        base = str(output.with_name(output.name + "-init"))
        if not (Path(base) / "config.json").exists():
            enc = prof.encoder
            sizes = {k: enc[k] for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size")}
            vocab = bootstrap_encoder(corpus, enc["architecture"], base, enc["vocab_size"], seed=seed, **sizes)
            typer.echo(f"bootstrapped a {enc['num_layers']}-layer, {enc['hidden_size']}-hidden {enc['architecture']} "
                       f"encoder with a {vocab}-subword vocabulary from {len(corpus)} texts: {base}")
    if prof.mlm.steps == 0:
        from .model.encoder import EncoderLoadError, load_masked_lm

        try:
            model, tokenizer = load_masked_lm(base)
        except EncoderLoadError as err:
            _fail(str(err))
        model.save_pretrained(output)
        tokenizer.save_pretrained(output)
        typer.echo(f"no MLM steps in profile {prof.name}: saved {base} as it is to {output}")
        return
    report = train_mlm(base, corpus, output, prof.mlm, device=device)
    before = report.get("heldout_loss_before")
    typer.echo(f"MLM: {prof.mlm.steps} steps on {report['train_blocks']} blocks; held-out loss "
               f"{'' if before is None else f'{before:.3f} -> '}{report['heldout_loss_after']:.3f}; saved to {output}")


@app.command("splits")
def splits_command(
    train: Path = typer.Argument(..., help="training DocBin"),
    dev: Path = typer.Argument(..., help="development DocBin"),
    output: Path = typer.Argument(..., help="folder for split*/train.spacy, dev.spacy"),
    scheme: str = typer.Option("random", help="random (n parts of train+dev), standard, or all"),
    n_parts: int = typer.Option(5, "--n-parts", "-n"),
    seed: int = typer.Option(0),
) -> None:
    """Training splits (paper 3.3): n random parts of train+dev, each one the dev set of one split."""
    import json
    import shutil

    from .workflow.splits import write_splits

    shutil.rmtree(output, ignore_errors=True)
    try:
        summary = write_splits(train, dev, output, scheme, n_parts, seed)
    except ValueError as err:
        _fail(str(err))
    (output / "splits.json").write_text(json.dumps({"scheme": scheme, "seed": seed, "splits": summary}, indent=1))
    for s in summary:
        typer.echo(f"split{s['split']}: {len(s['train'])} training / {len(s['dev'])} model-selection documents")


@app.command("train-splits")
def train_splits_command(
    config: Path = typer.Argument(..., help="clinx_ner training config"),
    splits_dir: Path = typer.Argument(..., help="output of the splits step"),
    output: Path = typer.Argument(..., help="folder for one trained pipeline per split"),
    encoder: str = typer.Option(..., help="encoder to fine-tune (output of the encoder step)"),
    profile: Path = typer.Option(Path("configs/profiles/cpu.cfg")),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1),
    jobs: int = typer.Option(1, help="splits to train at once (each logs to its split*/train.log)"),
) -> None:
    """Train one clinx_ner per split, skipping those already trained."""
    import json

    from .workflow.folds import selection, train_splits
    from .workflow.profiles import load_profile

    scheme = json.loads((splits_dir / "splits.json").read_text())["scheme"]
    train_splits(config, splits_dir, output, encoder, load_profile(profile, seed).train, seed,
                 selection(scheme), gpu_id, jobs, echo=typer.echo)


@app.command("ensemble")
def ensemble_command(
    training: Path = typer.Argument(..., help="output of train-splits (holds members.json)"),
    output: Path = typer.Argument(..., help="folder to save the ensemble pipeline to"),
    name: str = typer.Option("clinx_ner", help="pipeline name in meta.json"),
    version: str = typer.Option("0.1.0"),
) -> None:
    """A pipeline whose clinx_ensemble votes over the split models (saved inside it)."""
    from spacy.util import load_config

    from .workflow.folds import read_members

    members = read_members(training)
    first = load_config(Path(members[0]) / "config.cfg")  # the members' language and tokenizer
    nlp = spacy.blank(first["nlp"]["lang"], config={"nlp": {"tokenizer": first["nlp"]["tokenizer"]}})
    nlp.add_pipe("clinx_ensemble", config={"members": members})
    nlp.initialize()
    nlp.meta.update({"name": name, "version": version, "description": f"CLIN-X ensemble of {len(members)} "
                     "clinx_ner models trained on random splits (majority vote per subword)"})
    nlp.to_disk(output)
    typer.echo(f"ensemble of {len(members)} members -> {output}")


@app.command("data-report")
def data_report_command(
    corpus_dir: Path = typer.Argument(..., help="folder of the converted train/dev/test .spacy (and *-problems.tsv)"),
    output: Path = typer.Argument(..., help="report JSON to write (a .md table goes next to it)"),
    title: str = typer.Option("Data report"),
) -> None:
    """Documents, words and entities per split and label, entity lengths, nested and overlapping
    entities, dev/test labels that train lacks, conversion problems by kind."""
    from .workflow.data_report import report_markdown, write_data_report

    try:
        report = write_data_report(corpus_dir, output, title)
    except FileNotFoundError as err:
        _fail(str(err))
    typer.echo(report_markdown(report, title))


@app.command("evaluate-models")
def evaluate_models_command(
    training: Path = typer.Argument(..., help="output of train-splits (holds members.json)"),
    ensemble: Path = typer.Argument(..., help="the ensemble pipeline"),
    data: Path = typer.Argument(..., help="test DocBin"),
    output: Path = typer.Argument(..., help="metrics JSON to write (a .md table goes next to it)"),
    title: str = typer.Option("Test scores"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to predict on; -1: CPU"),
) -> None:
    """Strict char-level scores of every split model and of the ensemble, from one ensemble pass."""
    from .device import DeviceUnavailable, use_device
    from .workflow.folds import read_members
    from .workflow.report import evaluate_ensemble_and_members, summary, write_report

    try:
        use_device(gpu_id)
    except DeviceUnavailable as err:
        _fail(str(err))

    try:
        names = [Path(m).parent.name for m in read_members(training)]  # the ensemble's members, in order
    except FileNotFoundError as err:
        _fail(str(err))
    results = evaluate_ensemble_and_members(ensemble, names, data, echo=typer.echo)
    stats = summary(results, names)
    detail = (f"Median member F1 {100 * stats['median_member_f']:.2f}, best {100 * stats['best_member_f']:.2f}, "
              f"ensemble {100 * results['ensemble']['spans_char_f']:.2f}. Data: {data}.")
    write_report(results, stats, output, output.with_suffix(".md"), title, detail)
    typer.echo(detail)


@app.command("package")
def package_command(
    model: Path = typer.Argument(..., help="pipeline to package, or a training folder of the workflow"),
    output: Path = typer.Argument(..., help="folder for the package source and sdist"),
    pick: PackageModel = typer.Option(PackageModel.ensemble, "--pick", help="for a training folder: its ensemble, "
                                      "or its best split model (by its held-out score; about 5x faster)"),
    name: str = typer.Option("clinx_ner", help="package name without the language prefix"),
    version: str = typer.Option("0.1.0"),
    sample: str = typer.Option("", help="text tagged by the installed package as a check (default: a clinical "
                                            "sentence in the pipeline's language)"),
    target: str = typer.Option("", help="pip install --target this folder instead of this environment"),
) -> None:
    """spacy package, pip install, then spacy.load(NAME) and nlp.pipe in a fresh, offline process."""
    from spacy.util import load_meta

    from .workflow.package import SAMPLES, build_and_check, pick_pipeline

    try:
        model = pick_pipeline(model, pick.value)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    typer.echo(f"packaging {model}")
    sample = sample or SAMPLES.get(load_meta(model / "meta.json")["lang"], SAMPLES["es"])
    build_and_check(model, output, name, version, sample, Path(target) if target else None, echo=typer.echo)


@app.command("annotate")
def annotate_command(
    model: str = typer.Argument(..., help="pipeline folder or installed package name"),
    input: Path = typer.Argument(..., help="folder of .txt files (brat folders too) or JSONL of {id, text}"),
    output: Path = typer.Argument(..., help="JSONL file, or folder for --format brat"),
    fmt: OutputFormat = typer.Option(OutputFormat.jsonl, "--format", help="output format"),
    batch_size: int = typer.Option(32, help="documents per batch"),
    n_process: int = typer.Option(1, help="local worker processes (engine local)"),
    engine: Engine = typer.Option(Engine.local, help="this process (and its forked workers), or a Ray pool"),
    workers: int = typer.Option(2, help="Ray actors, one CPU each (engine ray)"),
    address: str = typer.Option("", help="Ray cluster address; empty: start a local Ray"),
    chunk_docs: int = typer.Option(4096, help="notes handed to Ray at a time: bounds the driver's memory (engine ray)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to predict on (engine local); -1: CPU"),
    gpus_per_worker: float = typer.Option(0.0, help="GPUs each Ray actor requests (engine ray); 0: CPU actors"),
    redact: Redaction = typer.Option(None, help="write de-identified text: each entity as [LABEL] (mask) or as a "
                                     "consistent surrogate of its kind (surrogate), entities indexing that text"),
) -> None:
    """Annotate notes with a pipeline. Rerun after an interruption: documents already in OUTPUT
    are skipped and none is written twice."""
    import json

    from .annotate.run import annotate

    try:
        stats = annotate(model, input, output, fmt.value, batch_size, n_process, engine.value, workers, address or None,
                         chunk_docs, gpu_id=gpu_id, gpus_per_worker=gpus_per_worker,
                         redact=redact.value if redact else None)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        _fail(str(err))
    typer.echo(json.dumps(stats))


@app.command("transfer", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def transfer_command(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="trained source pipeline (its clinx_ner encoder is reused), or an "
                                  "encoder folder used as it is (the no-transfer baseline)"),
    config: Path = typer.Argument(..., help="training config of the target model"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for model-best, model-last, checkpoint"),
    profile: Path = typer.Option(None, help="apply this workflow profile's [train] budget to --paths.train"),
    seed: int = typer.Option(0),
    gpu_id: int = typer.Option(-1),
) -> None:
    """Train a target clinx_ner starting from a source model's fine-tuned encoder; the emission
    layer and CRF are new, for the target labels. Takes `spacy train` overrides; resumable."""
    from spacy.cli._util import parse_config_overrides
    from thinc.api import require_gpu

    from .transfer.target import prepare_encoder
    from .workflow.folds import training_overrides
    from .workflow.profiles import load_profile
    from .workflow.resumable_train import train

    if gpu_id >= 0:
        require_gpu(gpu_id)
    overrides = parse_config_overrides(ctx.args)
    if profile is not None:
        overrides = {**training_overrides(load_profile(profile, seed).train, seed), **overrides}
    try:
        overrides["paths.encoder"] = str(prepare_encoder(source, output, echo=typer.echo))
    except (ValueError, OSError) as err:
        _fail(str(err))
    train(config, output, overrides, use_gpu=gpu_id)


@app.command("subset")
def subset_command(
    data: Path = typer.Argument(..., help="DocBin written by convert"),
    output: Path = typer.Argument(..., help="DocBin to write"),
    sentences: int = typer.Option(..., "--sentences", "-n", help="keep the first N sentences, in corpus order; "
                                  "0: all"),
    lang: str = typer.Option("es", "--lang", "-l"),
) -> None:
    """Low-resource training data (paper 4.2): the first N sentences, not shuffled; the last
    document is cut at a sentence boundary."""
    from .transfer import first_sentences
    from .transfer.low_resource import n_sentences

    nlp = spacy.blank(lang)
    docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    available = sum(n_sentences(d) for d in docs)
    if sentences == 0:
        sentences = available
    try:
        kept = list(first_sentences(docs, sentences))
    except ValueError as err:
        _fail(str(err))
    out = DocBin(store_user_data=True, docs=kept)
    output.parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(output)
    if sentences > available:
        typer.secho(f"{data} has only {available} sentences: all are kept", fg="yellow")
    typer.echo(f"{min(sentences, available)} sentences in {len(kept)} documents, "
               f"{sum(len(d.ents) for d in kept)} entities -> {output}")


@app.command("rank-sources")
def rank_sources_command(
    target_model: str = typer.Argument(..., help="model trained on the target task (pipeline or HF encoder)"),
    target_texts: Path = typer.Argument(..., help="target training texts: DocBin or folder of .txt"),
    sources: List[str] = typer.Argument(..., help="candidate source models, NAME=PATH or PATH"),
    source_texts: List[str] = typer.Option([], "--source-texts", help="NAME=PATH: a source's training texts "
                                           "(DocBin or folder), for the vocabulary overlap and coverage baselines"),
    max_words: int = typer.Option(20_000, help="target words to embed (in corpus order)"),
    output: Path = typer.Option(None, "--output", "-o", help="also write the ranking as JSON"),
    no_transfer: str = typer.Option(None, "--no-transfer", help="the encoder the target model was trained "
                                    "from: ranked as the reference 'none'; a source below it is predicted not to help"),
) -> None:
    """Rank source models for transfer by model similarity (a linear map between their features
    of the target texts), with vocabulary overlap and coverage as text-similarity baselines."""
    import json

    from .transfer.similarity import advice, rank_sources, ranking_table, split_name

    named = dict(split_name(s) for s in sources)
    texts_of = {name: _corpus_texts(Path(path)) for name, path in map(split_name, source_texts)}
    unknown = set(texts_of) - set(named)
    if unknown:
        _fail(f"--source-texts for unknown sources: {', '.join(sorted(unknown))} (sources: {', '.join(named)})")
    try:
        rows = rank_sources(target_model, _corpus_texts(target_texts), named, texts_of, max_words, echo=typer.echo,
                            no_transfer=no_transfer)
    except (ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(ranking_table(rows))
    typer.echo(f"Predicted: {advice(rows)}")
    if output:
        output.write_text(json.dumps(rows, indent=1), encoding="utf8")


def _corpus_texts(path: Path) -> List[str]:
    """Texts of a DocBin or of a folder of .txt files."""
    if path.is_dir():
        return _texts([path])
    if not path.exists():
        _fail(f"{path}: no such DocBin or folder")
    from .corpora.docs import docbin_texts

    return docbin_texts(path)


if __name__ == "__main__":
    app()
