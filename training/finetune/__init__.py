"""Fine-tuning a trained model (a foundation model) on new data: element-table extension,
isolated-atom energies for the new data's convention, replay of the original data, and
committees of members that differ by seed."""
