"""Stage 4: export, model card, push to and load from the Hugging Face Hub."""
