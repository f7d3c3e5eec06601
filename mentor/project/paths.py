"""Where every project file lives: all under the workspace's data/project/ (nothing elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    root: Path  # <workspace>/data/project

    @classmethod
    def of(cls, workspace_root: Path) -> "ProjectPaths":
        return cls(workspace_root / "data" / "project")

    @property
    def config(self) -> Path:
        return self.root / "project.toml"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    # tokenizer stage
    @property
    def corpus(self) -> Path:
        return self.root / "corpus.txt"  # the training part of the corpus

    @property
    def corpus_val(self) -> Path:
        return self.root / "corpus_val.txt"  # the held-out part

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / "tokenizer"

    @property
    def vocab(self) -> Path:
        return self.tokenizer_dir / "vocab.json"

    @property
    def merges(self) -> Path:
        return self.tokenizer_dir / "merges.json"

    # data stage
    @property
    def train_bin(self) -> Path:
        return self.root / "train.bin"

    @property
    def val_bin(self) -> Path:
        return self.root / "val.bin"

    # train stage
    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.pt"  # the run in progress (the learner's train writes it at each evaluation)

    @property
    def final(self) -> Path:
        return self.checkpoints / "final.pt"  # the finished model the later stages use; replaced only by a finished run

    @property
    def history(self) -> Path:
        return self.checkpoints / "history.jsonl"

    @property
    def sft_dir(self) -> Path:
        return self.root / "sft"

    @property
    def dpo_dir(self) -> Path:
        return self.root / "dpo"

    @property
    def int8_dir(self) -> Path:
        return self.root / "int8"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def pictures(self) -> Path:
        return self.report_dir
