"""Views: the landing page (:mod:`site`), the participant flow (:mod:`participant`) and the
pictures participants and researchers see (:mod:`pictures`)."""
