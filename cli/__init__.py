"""Command-line entry points: `python -m cli up|workflow-id|start-command|status`."""
