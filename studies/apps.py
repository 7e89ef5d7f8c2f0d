"""The study app's configuration; ``ready`` registers the built-in background job kinds."""

from importlib import import_module

from django.apps import AppConfig

#: Modules whose ``@register_kind`` classes are the built-in job kinds.
JOB_KIND_MODULES = ("studies.jobs.pregeneration", "studies.jobs.engine_commands")


class StudiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "studies"
    verbose_name = "Studies"

    def ready(self) -> None:
        for module in JOB_KIND_MODULES:
            import_module(module)
