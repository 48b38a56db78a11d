"""The training engine: three-stage training, evaluation, experiment wiring, checkpoints, DDP, atomic I/O."""
