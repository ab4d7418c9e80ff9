from setuptools import find_packages, setup

setup(
    name="spacy-clinx",
    version="0.1.0",
    description="CLIN-X clinical concept extraction for spaCy: subword BIOES CRF tagging with document context",
    long_description=open("README.md", encoding="utf8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["spacy_clinx", "spacy_clinx.*"]),
    python_requires=">=3.10",
    install_requires=[
        "spacy>=3.8,<3.9",
        "transformers>=4.41,<4.53.3",
        "tokenizers>=0.19",
        "torch>=2.1",
        "typer>=0.9",
        "numpy",
    ],
    # pytorch-crf: the tests' reference for the CRF (model/layers/crf.py). transformers is pinned below
    # 4.53.3 for spacy-transformers 1.4 (the bench's spacy-trf peer), the
    # versions tested together; the package itself does not use spacy-transformers. aiohttp: Ray Data's
    # file listing imports fsspec's HTTP filesystem from several threads, and without aiohttp one
    # thread's failed import breaks another's (annotate's Parquet input on Ray)
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "pyarrow>=12", "pytorch-crf>=0.7.2", "onnx>=1.15",
                             "onnxruntime>=1.17"],
                    "ray": ["ray[data]>=2.9", "aiohttp"], "parquet": ["pyarrow>=12"], "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
                    "bench": ["spacy-transformers>=1.4,<1.5"]},
    entry_points={
        "spacy_factories": [
            "clinx_ner = spacy_clinx.components.clinx_ner:make_clinx_ner",
            "clinx_ensemble = spacy_clinx.components.clinx_ensemble:make_clinx_ensemble",
        ],
        "spacy_architectures": [
            "spacy_clinx.SubwordTagger.v2 = spacy_clinx.model.architecture:build_subword_tagger",
            "spacy_clinx.SubwordCRFTagger.v1 = spacy_clinx.model.architecture:build_subword_crf_tagger",
        ],
        "spacy_scorers": [
            "spacy_clinx.ner_scorer.v1 = spacy_clinx.scoring:make_ner_scorer",
            "spacy_clinx.char_strict_scorer.v1 = spacy_clinx.scoring:make_char_strict_scorer",
        ],
        "spacy_tokenizers": ["spacy_clinx.CharClassTokenizer.v1 = spacy_clinx.tokenizer:make_char_class_tokenizer"],
        "spacy_readers": [
            "spacy_clinx.BratCorpus.v1 = spacy_clinx.corpora.reader:create_brat_corpus_reader",
            "spacy_clinx.labels.v1 = spacy_clinx.corpora.reader:read_label_list",
        ],
        "thinc_schedules": ["spacy_clinx.warmup_linear_over_corpus.v1 = spacy_clinx.schedules:warmup_linear_over_corpus"],
        "spacy_misc": [
            "spacy_clinx.TokenFeatures.v1 = spacy_clinx.model.layers.token_features:create_token_features",
            "spacy_clinx.TokenFeatures.v2 = spacy_clinx.model.layers.token_features:create_token_features_in_context",
            "spacy_clinx.document_windows.v1 = spacy_clinx.windows:create_document_windows",
            "spacy_clinx.sentence_windows.v1 = spacy_clinx.windows:create_sentence_windows",
            "spacy_clinx.crf_head.v1 = spacy_clinx.model.layers.heads:create_crf_head",
            "spacy_clinx.softmax_head.v1 = spacy_clinx.model.layers.heads:create_softmax_head",
        ],
        "spacy_callbacks": [
            "spacy_clinx.weights_from_pipeline.v1 = spacy_clinx.model.weights_from:create_weights_from_pipeline",
        ],
        "console_scripts": ["clinx = spacy_clinx.cli:main"],
    },
)
