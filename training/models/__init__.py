"""Models: building from YAML configs, saving/loading (safetensors + JSON, pickles), finding release
files."""
