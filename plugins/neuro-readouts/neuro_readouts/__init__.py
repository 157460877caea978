"""neuro plugin: readout components (separable, factorised, Gaussian)"""
