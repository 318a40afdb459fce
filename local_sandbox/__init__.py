"""LOCAL EMULATION ONLY: what the project does so that its real templates run in moto, a local AWS emulator.

Nothing here is part of the product: no stack or construct imports it, and nothing it does reaches AWS.
"""
