"""The Explain step's script: ``explain.py`` is the whole asset (the processing job's entrypoint)."""
