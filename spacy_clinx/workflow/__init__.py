"""The CLIN-X workflow steps (paper 3.1, 3.3): corpora, masked-LM adaptation, random
splits, fold training, ensemble, evaluation. ``project.yml`` calls them through the CLI."""
