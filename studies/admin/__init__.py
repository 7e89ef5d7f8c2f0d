"""The researcher admin (``/admin/``): studies with their conditions, groups, stimuli, links,
invites and live progress; participants and their trials read-only.

- :mod:`studies.admin.study` — Study (inlines, status actions) and its pages
  (:mod:`studies.admin.study_pages`: import stimuli, participant links, progress).
- :mod:`studies.admin.stimuli` — stimulus items with heatmap sets, imported manifests.
- :mod:`studies.admin.participants` — participants with trials, external identities, invites.
"""

from django.contrib import admin

from studies.admin import jobs, participants, stimuli, study

admin.site.site_header = "CWOX study administration"
admin.site.site_title = "CWOX studies"
admin.site.index_title = "Studies, stimuli and participants"

__all__ = ["jobs", "participants", "stimuli", "study"]
