"""Inference forms of mace-torch's blocks with the same numbers and cheap derivatives."""
