"""neuro plugin: dataset sources"""
