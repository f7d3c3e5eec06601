"""The course project (`mentor project`): the learner's own myllm code trained, sampled, aligned, quantized and
served, stage by stage. mentor only orchestrates, measures, draws and records; the learner's code runs in a worker
subprocess (mentor/project/worker.py)."""
