"""The pytest harness: the only place (with the CLI) that wires specs, engine, observation, judgement and reports."""
