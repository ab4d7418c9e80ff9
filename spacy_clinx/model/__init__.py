"""The tagger model: HF encoder -> linear emissions per subword -> constrained CRF."""
