"""The Django project is wired and healthy."""

from django.core.management import call_command
from django.urls import reverse


def test_system_check_passes():
    call_command("check", fail_level="WARNING")


def test_home_page_links_to_admin(client):
    response = client.get(reverse("studies:home"))
    assert response.status_code == 200
    assert reverse("admin:index").encode() in response.content


def test_engine_never_imports_django():
    import subprocess
    import sys

    code = (
        "import sys, explain_engine.cli, explain_engine.explain, explain_engine.render;"
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
