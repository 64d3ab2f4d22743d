"""What spans layers: the ``train``, ``automl`` and ``score`` jobs.

Each module holds one workflow: its request, the checks made before it is queued and the
body of its job, written against the small protocols of :mod:`.services` rather than the
hub, which it never imports (the hub registers the job kinds and opens the services for
them: :mod:`mlharbor.hub_jobs`). Nothing is imported here, so a process that runs one
workflow does not load the others' stacks.
"""
