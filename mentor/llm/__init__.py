"""The LLM layer: provider profiles and config (profiles.py, config.py), the streaming client
(client.py), structured output (structured.py) and the endpoint probe behind `mentor config test`
(probe.py).

Importing this package is cheap: only client.py and probe.py import `openai`, so import them
inside functions from commands that do not always need them (`mentor --help` and `mentor status`
must stay fast).
"""
