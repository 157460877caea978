"""neuro plugin: convolutional cores (Klindt et al. 2017)"""
