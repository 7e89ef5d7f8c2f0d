"""gunicorn settings of the study server: ``gunicorn -c studyserver/gunicorn.conf.py
studyserver.wsgi`` (``scripts/serve.sh`` does this after migrating and collecting static files).

Every setting can be changed from the environment:

- ``CWOX_BIND``: address(es) to listen on, comma-separated (default ``127.0.0.1:8000``: a
  reverse proxy on the same machine terminates TLS and forwards). ``unix:/run/cwox.sock`` too.
- ``CWOX_WORKERS`` (or the conventional ``WEB_CONCURRENCY``; default: the number of cores, at
  most 8), ``CWOX_THREADS`` (default 8), ``CWOX_WORKER_CLASS`` (default ``gthread``). Every
  thread keeps a database connection open (``conn_max_age``), so workers x threads must stay
  below PostgreSQL's ``max_connections`` (100 by default) with room for the admin and jobs.
- ``CWOX_TIMEOUT`` (s, default 30): a worker silent for longer is killed and replaced.
- ``CWOX_KEEPALIVE`` (s, default 75): how long an idle client connection is kept. Longer than
  the idle timeout of the proxy in front (nginx: 60 s), so that the proxy, not gunicorn, closes
  idle connections: a request the proxy sends on a connection gunicorn is closing fails. Idle
  connections cost no thread with ``gthread``.
- ``CWOX_MAX_REQUESTS`` (default 10000, ``0``: never): a worker is replaced after that many
  requests plus a random jitter of up to 50 %, which bounds slow memory growth; the wide jitter
  keeps workers from restarting together. With ``preload_app`` a replacement is forked from
  the loaded master (importing the project takes ~4 s: SciPy, statsmodels for the results).
- ``CWOX_ACCESS_LOG``: off by default (the participants' tokens are in the URLs); ``-`` logs to
  stdout, or a file path. ``CWOX_LOG_LEVEL`` (default ``info``): the error log, on stderr.
- ``CWOX_FORWARDED_ALLOW_IPS`` (default ``FORWARDED_ALLOW_IPS`` or ``127.0.0.1,::1``): the
  proxies trusted to say that a request came over HTTPS (``X-Forwarded-Proto``). Django trusts
  that header too when ``DJANGO_HTTPS=1``: gunicorn must only be reachable through the proxy.
- ``CWOX_CONTROL_SOCKET``: a path for gunicorn's control socket (``gunicornc``); off by default.

Measured with ``benchmarks/bench_server.py`` (100 participants arriving at once, no think time,
8,776 requests; gunicorn, PostgreSQL and the load generator share the 2-core machine, so every
configuration is CPU-bound: see ``benchmarks/README.md``). Requests/s, p95, p99 in the quietest
sweep, and requests per CPU-second of the whole stack (less sensitive to other jobs' load; the
range over repeated runs):

    gthread 2 workers x 8 threads   206/s  1.09 s  1.19 s   86-114   <- default
    gthread 2 workers x 4 threads   198/s  1.11 s  1.35 s   70-106
    gthread 4 workers x 4 threads   160/s  1.61 s  1.96 s   84-100
    gthread 1 worker  x 8 threads   140/s  1.52 s  1.83 s   110 (one core for Python only)
    sync 4 / 5 / 8 workers          129-156/s, p99/p95 1.3-1.7 (gthread 2 x 8: 1.1-1.25): no
                                    keep-alive, and a slow request holds its process; 84-102

With gunicorn's keep-alive of 5 s and max_requests 2000 (+10 % jitter: both workers restarted
together) a run had 17-40 failed requests ("server disconnected without sending a response" on
reused connections); with the values below, none in any run.
"""

# ruff: noqa: N999 (gunicorn's conventional file name)
from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [part.strip() for part in os.environ.get("CWOX_BIND", "127.0.0.1:8000").split(",")]
worker_class = os.environ.get("CWOX_WORKER_CLASS", "gthread")
workers = _int("CWOX_WORKERS", _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count(), 8)))
threads = _int("CWOX_THREADS", 8)
timeout = _int("CWOX_TIMEOUT", 30)
graceful_timeout = 30
keepalive = _int("CWOX_KEEPALIVE", 75)
max_requests = _int("CWOX_MAX_REQUESTS", 10000)
max_requests_jitter = max_requests // 2
preload_app = True
forwarded_allow_ips = os.environ.get(
    "CWOX_FORWARDED_ALLOW_IPS", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
)
accesslog = os.environ.get("CWOX_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("CWOX_LOG_LEVEL", "info")
proc_name = "cwox-studyserver"
# gunicorn's control socket (``gunicornc``) defaults to one path per user, which a second
# instance on the machine (tests, benchmarks) would take over: only where asked for.
if os.environ.get("CWOX_CONTROL_SOCKET"):
    control_socket = os.environ["CWOX_CONTROL_SOCKET"]
else:
    control_socket_disable = True
# The heartbeat file on a memory file system: a slow disk can't make a busy worker look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
