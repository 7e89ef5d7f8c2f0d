"""The analysis package stands alone: no Django, documented public API."""

import subprocess
import sys

import studies.analysis


def test_analysis_never_imports_django():
    code = (
        "import sys, studies.analysis;"
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_public_api_is_documented():
    assert "response_ms" in studies.analysis.__doc__  # the input schema
    for name in studies.analysis.__all__:
        member = getattr(studies.analysis, name)
        if callable(member):
            assert member.__doc__, name
