"""Drift monitoring of the real-time endpoint: ``DriftMonitor`` (construct.py, the default: the project's scheduled
drift job, whose Lambda code is ``runtime/``) and ``ModelMonitorSchedule`` (model_monitor.py: SageMaker Model
Monitor, for accounts that already use it). Both read the same baseline, in Model Monitor's file formats."""
