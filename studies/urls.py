"""Study pages: participant links and flow, and the pictures they show."""

from django.urls import path

from studies.views import health, participant, pictures, site

app_name = "studies"
urlpatterns = [
    path("", site.home, name="home"),
    path("healthz", health.health, name="health"),
    path("s/<slug:study>/", participant.study_link, name="study-link"),
    path(
        "s/<slug:study>/instructions/<int:image>/",
        pictures.instruction_image,
        name="instruction-image",
    ),
    path("s/<slug:study>/<slug:group>/", participant.group_link, name="group-link"),
    path("i/<str:token>/", participant.invite_link, name="invite-link"),
    path("p/<str:token>/", participant.participant_page, name="participant"),
    path("p/<str:token>/group/", participant.choose_group, name="choose-group"),
    path("p/<str:token>/start/", participant.start_trials, name="start-trials"),
    path("p/<str:token>/answer/", participant.answer, name="answer"),
    path("p/<str:token>/continue/", participant.continue_after_feedback, name="continue"),
    path(
        "p/<str:token>/t/<int:trial>/<str:picture>.png",
        pictures.trial_picture,
        name="trial-picture",
    ),
    path("staff/media/<path:path>", pictures.staff_media, name="staff-media"),
]
