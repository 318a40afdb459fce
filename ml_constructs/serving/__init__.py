"""Serving: the real-time endpoint of the worked example and what it serves before any training has run.

``default_model/`` holds the artifact a first deploy points the SageMaker model at: a ``model.tar.gz`` in the
format the built-in XGBoost container loads, trained locally on the worked example's data by
``python -m tools.build_default_model`` (``make default-model``), with the drift monitor's baseline of the same
training data (``statistics.json``, ``constraints.json``) and a ``manifest.json`` describing all of it.
"""
