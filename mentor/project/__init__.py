"""The course project: stages that run the learner's own myllm code."""
