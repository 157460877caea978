"""neuro plugin: the Docker backend (CPU and GPU containers)"""
