"""The gate: run a unit's hidden tests on the learner's code in a sandboxed subprocess."""
