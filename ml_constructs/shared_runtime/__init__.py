"""Runtime code several runtimes share: shipped inside each of their assets (``ml_constructs/assets.py`` stages it
under this same import path), so every runtime imports it as ``ml_constructs.shared_runtime.<module>``. Standard
library only; never imports the CDK."""
