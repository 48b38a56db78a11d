"""The training engine: three-stage training (the loop, one epoch, callbacks, the scalar log),
evaluation, experiment wiring, checkpoints, run folders, DDP."""
