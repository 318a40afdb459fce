"""The serving unit's Lambda code (the idle-endpoint guard), shipped whole as the function's asset."""
