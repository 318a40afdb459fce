"""The alerts topic every alarm notifies: ``construct.AlertTopic``."""
