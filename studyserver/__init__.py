"""Django project of the study server: settings, URLs and the WSGI/ASGI entry points."""
