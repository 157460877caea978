"""neuro plugin: the local execution backend (worker processes on this machine)"""
