"""Rollout engines: generate responses and record their tokens and behaviour log-probabilities."""
