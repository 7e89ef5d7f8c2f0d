"""Django forms that validate what browsers send: every participant field is typed and
checked here before the flow (:mod:`studies.flow`) sees it."""
