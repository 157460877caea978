"""neuro plugin: cluster backends (Grid Engine qsub, PBS dialect, Slurm)"""
