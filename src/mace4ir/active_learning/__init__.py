"""Active learning of a molecule's IR-relevant potential (the PALIRS protocol, made fast):
a committee explores by MD, the frames it disagrees on most are labelled by a reference
method (the oracle), the committee is fine-tuned, until its spectra stop changing.

A workflow on top of the stages (it fine-tunes with ``training``, runs MD and harmonic
analyses with ``evaluation`` and exports with ``release``); ``mace4ir active-learn``.
"""
