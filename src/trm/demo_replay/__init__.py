"""Replay of CTDC cross-border records as live cases through the exchange
between the nodes of the demo federation (issue 10; docs/demo-replay.md)."""
