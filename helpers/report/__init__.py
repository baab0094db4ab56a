"""Reports of a run: JSON (versioned schema), terminal summary, HTML, and the diff of two runs."""
