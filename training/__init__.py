"""Stage 2: training MACE-EF and MACE-D with mace-torch (1 CPU to multi-node torchrun)."""
