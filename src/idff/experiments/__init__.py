"""End-to-end experiments built from the library (toys here; images and series elsewhere)."""
