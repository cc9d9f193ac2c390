"""Reading (and, for the sample, writing) the QCML TFDS format without TensorFlow."""
