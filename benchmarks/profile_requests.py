"""Where a participant request's CPU goes, in-process (no HTTP server, no load generator).

Usage: ``.venv/bin/python benchmarks/profile_requests.py [--participants 20] [--profile]
[--top 25] [--database-url postgres://postgres@127.0.0.1:5432/cwox_profile]``

Builds the load benchmark's study (``bench_server.py``: 3 training trials, 10 test trials, one
attention check) in a fresh database, then sends ``--participants`` bots through the real
pages with Django's test client, fetching each trial's pictures as a browser does. Every
request is timed in CPU time of this process (``time.process_time``: Django, the templates,
the ORM and the database driver, not PostgreSQL's own work) and its SQL queries are counted.
Prints, per page type, requests, CPU ms per request and queries per request; with
``--profile``, also the functions with the most cumulative CPU time over all requests
(cProfile with a CPU-time clock; the profiler's own overhead then inflates the CPU figures, so
they are measured without it by default). The last line is
``cpu_ms_per_request=<x> queries_per_request=<y>``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cwox_profile"
PICTURE = re.compile(r'<img[^>]+src="(?P<src>/p/[^"]+\.png)"')
PAGE_TYPES = (
    (re.compile(r"\.png$"), "picture"),
    (re.compile(r"^/s/"), "link"),
    (re.compile(r"/p/[^/]+/$"), "participant page"),
    (re.compile(r"/p/[^/]+/[a-z-]+/$"), "participant form"),
)


def page_type(method: str, path: str) -> str:
    for pattern, name in PAGE_TYPES:
        if pattern.search(path):
            return f"{method} {name}"
    return f"{method} other"


class TimedClient:
    """A Django test client that records CPU time and queries per request, and fetches the
    pictures of every page it gets (as a browser would)."""

    def __init__(self, profile: cProfile.Profile | None = None) -> None:
        from django.test import Client

        self.client = Client()
        self.profile = profile
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.queries: dict[str, list[int]] = defaultdict(list)

    def _timed(self, method: str, url: str, **data):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        path = url.split("?")[0]
        with CaptureQueriesContext(connection) as queries:
            start = time.process_time()
            if self.profile:
                self.profile.enable()
            response = getattr(self.client, method.lower())(url, **data)
            if self.profile:
                self.profile.disable()
            used = time.process_time() - start
        kind = page_type(method, path)
        self.cpu[kind].append(used)
        self.queries[kind].append(len(queries))
        return response

    def get(self, url: str):
        response = self._timed("GET", url)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            for match in PICTURE.finditer(response.content.decode()):
                self._timed("GET", match.group("src"))
        return response

    def post(self, url: str, data: dict[str, str]):
        return self._timed("POST", url, data=data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also profile (cProfile)")
    parser.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cwox-profile-"))
    os.environ.update(
        DATABASE_URL=args.database_url,
        CWOX_MEDIA_ROOT=str(work / "media"),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_SETTINGS_MODULE="studyserver.settings",
    )
    import bench_server

    bench_server.recreate_database(args.database_url)
    try:
        slug, groups = bench_server.build_studies(work, warmup=True)
        from studies.simulation import Bot

        # Warm-up: imports, template loading and connection set-up are not what is measured.
        Bot(TimedClient()).run(f"/s/warmup/{groups[0]}/")
        profile = cProfile.Profile(time.process_time) if args.profile else None
        client = TimedClient(profile)
        for number in range(args.participants):
            client.client.cookies.clear()
            Bot(client, group_answer=groups[number % len(groups)]).run(f"/s/{slug}/")
        report(client, profile, args.top)
    finally:
        from django.db import connections

        connections.close_all()
        bench_server.drop_database(args.database_url)
    return 0


def report(client: TimedClient, profile: cProfile.Profile | None, top: int) -> None:
    total_cpu = sum(sum(values) for values in client.cpu.values())
    total_requests = sum(len(values) for values in client.cpu.values())
    total_queries = sum(sum(values) for values in client.queries.values())
    print(f"{'page type':28s} {'requests':>9s} {'CPU ms/req':>11s} {'queries/req':>12s}")
    for kind in sorted(client.cpu, key=lambda k: -sum(client.cpu[k])):
        cpu, queries = client.cpu[kind], client.queries[kind]
        print(
            f"{kind:28s} {len(cpu):9d} {1000 * sum(cpu) / len(cpu):11.2f} "
            f"{sum(queries) / len(queries):12.1f}"
        )
    if profile is not None:
        print()
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(top)
    print(
        f"cpu_ms_per_request={1000 * total_cpu / total_requests:.2f} "
        f"queries_per_request={total_queries / total_requests:.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
