"""Measures models: Spanish STS and news retrieval (see the evaluation issue)."""
