"""The main job, ``mace4ir demo``: the whole pipeline on the built-in sample, as resumable
steps, with a report. The one place that imports every stage."""
