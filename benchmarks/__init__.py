"""Scripts that measure the project and print figures (never timed tests: these machines are noisy)."""
