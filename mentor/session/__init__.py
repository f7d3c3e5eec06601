"""The daily session: a state machine with no terminal I/O (engine.py), prompt assembly, guards."""
