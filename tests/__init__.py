"""The tests of idff: one folder per package of src/idff (docs/layout.md, "Tests")."""
