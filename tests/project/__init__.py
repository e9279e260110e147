"""Checks of the whole repository: docs, README, examples, the layout, and the promises of
docs/reliability.md that span every package."""
