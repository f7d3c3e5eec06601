"""mentor: a command-line tutor for building a small LLM from first principles."""

__version__ = "0.1.0"
