"""What spans layers: the ``train``, ``automl`` and ``score`` jobs.

Each module holds one workflow: its request, the checks made before it is queued, the
body of its job and the job's handler (registered by :mod:`mlharbor.hub`). Nothing is
imported here, so a process that runs one workflow does not load the others' stacks.
"""
