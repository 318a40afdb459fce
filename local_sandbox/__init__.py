"""LOCAL EMULATION ONLY: what the project does so that its real templates run in moto, a local AWS emulator.

Nothing here is part of the product: no stack or construct imports it, and nothing it does reaches AWS.
"""


class NotEmulatedError(RuntimeError):
    """A deployed configuration uses a feature the local emulation does not cover (named in the message).

    Raised instead of skipping the feature: a local run that passes must not hide work it did not do.
    """
