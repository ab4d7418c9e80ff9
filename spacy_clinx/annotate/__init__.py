"""``clinx annotate``: a trained pipeline over many notes, resumable with exactly-once output."""
