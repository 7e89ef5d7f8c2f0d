"""Load benchmark of the study server: gunicorn on PostgreSQL over loopback, with N simulated
participants going through the whole flow at once.

Usage: ``.venv/bin/python benchmarks/bench_server.py [--participants 100] [--concurrency N]
[--think SECONDS] [--workers W] [--threads T] [--worker-class gthread|sync] [--timeout 300]
[--warmup 4] [--keep-db] [--server-env NAME=VALUE] [--database-url
postgres://postgres@127.0.0.1:5432/cwox_bench]``

What it does:

1. Drops and recreates the database of ``--database-url`` (``cwox_bench``), migrates it and
   builds an open study shaped like the demo (3 training trials with feedback, 10 test trials,
   one attention check: 14 trials per participant; conditions SWOX, CWOX-1sB, CWOX-2s; groups
   expert and non-expert) from a small synthetic manifest (``tests/server/factories.py``).
2. Starts gunicorn with ``studyserver/gunicorn.conf.py`` (``--workers``/``--threads``/
   ``--worker-class`` override its defaults) on a free loopback port, ``DJANGO_DEBUG=0``, and
   waits for ``/healthz``; a few warm-up participants go through a separate study.
3. Runs ``--participants`` simulated participants (asyncio + httpx, each with its own cookie
   jar), all arriving at once (``--concurrency`` bounds how many are in flight), with no think
   time (``--think`` pauses before each form is sent). Each reads its pages as the existing
   bot does (:mod:`studies.simulation`: forms, hidden fields, CSRF token; its parsing helpers
   are reused) and follows the redirects itself, so that every page type is timed: consent
   (GET, POST), group question, instructions, trial, the trial's pictures (fetched together,
   as a browser does, and once: the feedback page shows them again from the browser's cache),
   answer POST, feedback, continue POST, debrief, and the stylesheet once. A quarter of the
   participants arrive through each group's link, the other half through the study link and
   answer the group question.
   Answers are random (the benchmark checks storage, not accuracy).
4. Reports requests, requests/s and p50/p95/p99 latency per page type and overall, and errors
   (exceptions, unexpected statuses, participants not done by ``--timeout``).
5. Checks the database: every answer the server accepted is stored, as sent, on the trial it
   was sent for, with an ``answered_at`` inside that request's time window (written once, by
   that request; ``lost`` counts the answers missing or different), no trial was answered that
   was not sent, every simulated participant completed, conditions are balanced within each group
   (max - min <= 1).

The last line is ``p95_ms=<x> errors=<n> lost=<m>`` (p95 over all requests). The exit status
is 1 when there were errors, lost answers or unbalanced conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import os
import random
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

# httpcore (1.0.9) tries ``import sniffio`` whenever it sets up a lock, and a failed import is
# not cached: without sniffio installed, each request paid ~0.5 ms of sys.path scans in the load
# generator. Record the absence once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from studies.simulation import Bot

GUNICORN_CONF = ROOT / "studyserver" / "gunicorn.conf.py"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cwox_bench"
PICTURE = re.compile(r'<img src="(?P<src>[^"]+)"')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(?P<href>[^"]+)"')
# The page a participant URL shows, told by the action of its form, and what the form posts.
PAGE_OF_ACTION = {
    "/group/": "group",
    "/start/": "instructions",
    "/answer/": "trial",
    "/continue/": "feedback",
}
POST_OF_PAGE = {
    "group": "group_post",
    "instructions": "start_post",
    "trial": "answer_post",
    "feedback": "continue_post",
}
PAGE_ORDER = (
    "consent_get",
    "consent_post",
    "group",
    "group_post",
    "instructions",
    "start_post",
    "trial",
    "picture",
    "answer_post",
    "feedback",
    "continue_post",
    "debrief",
    "static",
)
CLOCK_SLACK = 0.05  # s: answered_at (server clock) vs the request's window (same machine)
# The demo study's shape (studies/demo.py): 3 training items, 10 test trials, 1 attention check.
STUDY_SHAPE = {"training_trials": 3, "test_trials": 10, "attention_check_positions": (6,)}


# --------------------------------------------------------------------------------- the load


@dataclass(frozen=True)
class SentAnswer:
    """An answer the server accepted: label numbers as sent, and the wall-clock window of the
    request (the trial's answered_at must fall in it: written by this request, once)."""

    token: str
    left: str
    right: str
    confidence: str
    sent: float
    accepted: float


@dataclass
class Stats:
    """Every request's page type, latency and outcome, and what was answered."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    answers: dict[int, SentAnswer] = field(default_factory=dict)  # by trial id
    duplicate_answers: int = 0
    unconfirmed_answers: set[int] = field(default_factory=set)
    tokens: list[str] = field(default_factory=list)

    def error(self, kind: str, problem: str) -> None:
        self.errors[kind] += 1
        if sum(example.startswith(f"{kind}:") for example in self.error_examples) < 3:
            self.error_examples.append(f"{kind}: {problem}")


class StoppedError(Exception):
    """A simulated participant cannot go on (the error is already counted)."""


def _any_order(_trial: int) -> tuple[str, str]:
    """The bots' oracle, blind: with ``accuracy=0.5`` the bot answers at random."""
    return "1", "2"


class Participant:
    """One simulated participant: a browser with its own cookies (and cache), pausing
    ``think`` seconds on average before sending a form."""

    def __init__(
        self, client: httpx.AsyncClient, stats: Stats, link: str, bot: Bot, think: float = 0
    ):
        self.client = client
        self.stats = stats
        self.link = link
        self.bot = bot
        self.think = think
        self.cached: set[str] = set()

    async def request(self, kind: str, method: str, url: str, **kwargs) -> httpx.Response:
        expected = 200 if method == "GET" else 302
        start = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.stats.error(kind, f"{method} {url}: {type(error).__name__} {error}")
            raise StoppedError from error
        self.stats.latencies[kind].append(time.perf_counter() - start)
        if response.status_code != expected:
            self.stats.error(kind, f"{method} {url}: status {response.status_code}")
            raise StoppedError
        return response

    async def post(self, kind: str, url: str, data: dict[str, str], html: str) -> str:
        if self.think:  # reading the page and answering: 0.5 to 1.5 times the mean
            await asyncio.sleep(self.think * self.bot.rng.uniform(0.5, 1.5))
        token = self.bot._hidden(html).get("csrfmiddlewaretoken", "")
        reply = await self.request(kind, "POST", url, data={**data, "csrfmiddlewaretoken": token})
        return urljoin(url, reply.headers["Location"])

    async def assets(self, html: str) -> None:
        """What a browser loads with the page, once per participant as its cache would (the
        server sends max-age=3600): the trial's pictures (a feedback page shows those of the
        trial just answered again), the stylesheet."""
        wanted = [("picture", m["src"]) for m in PICTURE.finditer(html)]
        wanted += [("static", m["href"]) for m in STYLESHEET.finditer(html)]
        loads = []
        for kind, url in wanted:
            if url not in self.cached:
                self.cached.add(url)
                loads.append(self.request(kind, "GET", url))
        for outcome in await asyncio.gather(*loads, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise StoppedError from outcome

    async def run(self) -> None:
        from studies.simulation import FORM

        page = await self.request("consent_get", "GET", self.link)
        html = page.text
        await self.assets(html)
        if 'name="decision"' not in html:
            self.stats.error("consent_get", f"{self.link}: no consent form")
            raise StoppedError
        url = await self.post("consent_post", self.link, {"decision": "agree"}, html)
        token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        self.stats.tokens.append(token)
        for _ in range(200):
            kind, html = await self.page(url)
            if kind == "debrief":
                return
            target = urljoin(url, FORM.search(html)["action"])
            data = self.bot._respond(target, html)
            if kind != "trial":
                url = await self.post(POST_OF_PAGE[kind], target, data, html)
                continue
            trial = int(data["trial"])
            if trial in self.stats.answers or trial in self.stats.unconfirmed_answers:
                self.stats.duplicate_answers += 1
            self.stats.unconfirmed_answers.add(trial)
            sent = time.time()
            url = await self.post("answer_post", target, data, html)
            self.stats.unconfirmed_answers.discard(trial)
            self.stats.answers[trial] = SentAnswer(
                token, data["left"], data["right"], data["confidence"], sent, time.time()
            )
        self.stats.error("participant", f"{url}: too many pages")
        raise StoppedError

    async def page(self, url: str) -> tuple[str, str]:
        """GET the participant page (timed under its type, known once it is read) and what
        the browser loads with it; returns the type and the HTML."""
        from studies.simulation import FORM

        start = time.perf_counter()
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as error:
            self.stats.error("participant_page", f"GET {url}: {type(error).__name__} {error}")
            raise StoppedError from error
        elapsed = time.perf_counter() - start
        html = response.text
        found = FORM.search(html)
        if found is not None:
            action = found["action"]
            kind = next((v for k, v in PAGE_OF_ACTION.items() if action.endswith(k)), "other")
        else:
            kind = "debrief" if "Thank you" in html else "other"
        self.stats.latencies[kind].append(elapsed)
        if response.status_code != 200 or kind == "other":
            self.stats.error(kind, f"GET {url}: status {response.status_code}, unknown page")
            raise StoppedError
        await self.assets(html)
        return kind, html


async def simulate(
    base_url: str,
    study: str,
    groups: list[str],
    count: int,
    concurrency: int,
    timeout: float,
    think: float = 0,
) -> tuple[Stats, float]:
    """``count`` participants, at most ``concurrency`` at a time, all started at once;
    returns the statistics and the wall time. Django must be set up (the bots' parsing)."""
    from studies.simulation import Bot

    stats = Stats()
    limiter = asyncio.Semaphore(concurrency)
    tls = ssl.create_default_context()  # one for all clients (each would load the CA file)

    def link(index: int) -> tuple[str, str | None]:
        """Group links for half of the participants, the study link (group asked) for the
        others; alternating groups."""
        group = groups[index % len(groups)]
        if (index // len(groups)) % 2 == 0:
            return f"/s/{study}/{group}/", None
        return f"/s/{study}/", group

    async def one(index: int) -> None:
        async with limiter:
            url, answer = link(index)
            bot = Bot(None, _any_order, accuracy=0.5, rng=random.Random(index), group_answer=answer)
            async with httpx.AsyncClient(
                base_url=base_url, verify=tls, timeout=timeout, follow_redirects=False
            ) as client:
                with contextlib.suppress(StoppedError):
                    await Participant(client, stats, url, bot, think).run()

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    start = time.perf_counter()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    elapsed = time.perf_counter() - start
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        stats.errors["timeout"] = len(pending)
        stats.error_examples.append(f"{len(pending)} participants not done after {timeout:.0f} s")
    for task in done:
        if task.exception() is not None:
            stats.error("participant", repr(task.exception()))
    return stats, elapsed


# ------------------------------------------------------------------------- database and server


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"unexpected database name {name!r}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def build_studies(work: Path, warmup: bool) -> tuple[str, list[str]]:
    """Migrate and create the benchmark's study (and a small warm-up study)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from tests.server.factories import make_study

    study = make_study(work, slug="bench", **STUDY_SHAPE)
    if warmup:
        make_study(work, slug="warmup", **STUDY_SHAPE)
    return study.slug, [group.slug for group in study.groups.order_by("position")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn with the project's configuration, as a child process group."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        with log.open("wb") as stream:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "studyserver.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, url: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer /healthz:\n{self.log.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far (Linux /proc)."""
        total = 0.0
        for pid in _descendants(self.process.pid) + [self.process.pid]:
            try:
                total += _process_cpu(Path(f"/proc/{pid}/stat").read_text())[1]
            except OSError:
                continue
        return total

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        found = [int(child) for child in children.read_text().split()]
    except OSError:
        return []
    return found + [grand for child in found for grand in _descendants(child)]


def _process_cpu(text: str, children: bool = True) -> tuple[str, float]:
    """The command name and CPU seconds (user + system) of a /proc/PID/stat line, with those
    of its children that exited (gunicorn workers replaced, PostgreSQL backends closed)."""
    name = text[text.find("(") + 1 : text.rfind(")")]
    ticks = [int(value) for value in text.rsplit(")", 1)[1].split()[11:15]]
    return name, sum(ticks if children else ticks[:2]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server: Server) -> dict[str, float]:
    """CPU seconds so far of the machine (all cores, busy), gunicorn, this process and the
    PostgreSQL server processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(value) for value in fields[:8]) - int(fields[3]) - int(fields[4])
    postgres = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, seconds = _process_cpu(stat.read_text())
        except OSError:
            continue
        if name == "postgres":
            postgres += seconds
    own = _process_cpu(Path("/proc/self/stat").read_text(), children=False)[1]
    return {
        "machine": busy / ticks,
        "gunicorn": server.cpu_seconds(),
        "bench": own,
        "postgres": postgres,
    }


# ---------------------------------------------------------------------------- verification


@dataclass
class Verdict:
    lost: int
    wrong: int
    extra: int
    incomplete: int
    unbalanced: list[str]
    lines: list[str]


def verify(stats: Stats, study_slug: str, simulated: int) -> Verdict:
    """Compare what the server accepted with what the database holds."""
    from studies.models import Participant, Study, Trial

    study = Study.objects.get(slug=study_slug)
    participants = Participant.objects.filter(study=study)
    trials = Trial.objects.filter(participant__study=study)
    answered = {
        t.pk: t for t in trials.filter(answered_at__isnull=False).select_related("participant")
    }
    lost = wrong = 0
    for trial_id, sent in stats.answers.items():
        stored = answered.get(trial_id)
        if stored is None:
            lost += 1
            continue
        labels = {"1": stored.label_first, "2": stored.label_second}
        written = stored.answered_at.timestamp()
        if (
            stored.participant.token != sent.token
            or stored.answer_left != labels[sent.left]
            or stored.answer_right != labels[sent.right]
            or str(stored.confidence) != sent.confidence
            or not sent.sent - CLOCK_SLACK <= written <= sent.accepted + CLOCK_SLACK
        ):
            wrong += 1
    extra = len(set(answered) - set(stats.answers) - stats.unconfirmed_answers)
    tokens = set(stats.tokens)
    completed = participants.filter(
        token__in=tokens, state=Participant.State.COMPLETED, stage=Participant.Stage.DEBRIEF
    ).count()
    per_participant = study.training_trials + study.test_trials + study.attention_checks
    lines = [
        f"participants: simulated {simulated}, consented {len(tokens)}, in the database "
        f"{participants.count()}, completed {completed}",
        f"answers: accepted by the server {len(stats.answers)} (expected "
        f"{simulated * per_participant}), answered trials in the database {len(answered)}, "
        f"missing {lost}, stored differently or outside its request {wrong}, "
        f"answered but never sent {extra}, "
        f"sent twice by the bench {stats.duplicate_answers}, "
        f"unconfirmed (request failed) {len(stats.unconfirmed_answers)}",
    ]
    unbalanced = []
    conditions = list(study.conditions.order_by("position"))
    for group in study.groups.order_by("position"):
        loads = Counter(participants.filter(group=group).values_list("condition_id", flat=True))
        counts = [loads.get(condition.pk, 0) for condition in conditions]
        shown = ", ".join(f"{c.name} {n}" for c, n in zip(conditions, counts, strict=True))
        balanced = max(counts) - min(counts) <= 1
        lines.append(f"group {group.slug}: {shown} ({'balanced' if balanced else 'UNBALANCED'})")
        if not balanced:
            unbalanced.append(group.slug)
    return Verdict(lost + wrong, wrong, extra, simulated - completed, unbalanced, lines)


# ------------------------------------------------------------------------------- reporting


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(stats: Stats, elapsed: float) -> float:
    """Print the table of latencies; returns the overall p95 in ms."""
    every = sorted(x for values in stats.latencies.values() for x in values)
    print(f"{'page':<14} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    kinds = [k for k in PAGE_ORDER if k in stats.latencies]
    kinds += sorted(set(stats.latencies) - set(PAGE_ORDER))
    for kind, values in [(k, sorted(stats.latencies[k])) for k in kinds] + [("all", every)]:
        if values:
            cells = [percentile(values, p) * 1000 for p in (50, 95, 99, 100)]
            print(f"{kind:<14} {len(values):>8} " + " ".join(f"{c:>8.1f}" for c in cells))
    print(
        f"requests: {len(every)} in {elapsed:.2f} s = {len(every) / elapsed:.0f} requests/s; "
        f"errors: {sum(stats.errors.values())} {dict(stats.errors) or ''}"
    )
    for example in stats.error_examples:
        print(f"  error: {example}")
    return percentile(every, 95) * 1000 if every else float("nan")


# ------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument(
        "--concurrency", type=int, help="participants in flight at once (default: all)"
    )
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the config's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: the config's)")
    parser.add_argument("--worker-class", help="gthread or sync (default: the config's)")
    parser.add_argument(
        "--timeout", type=float, default=300, help="bound on the simulation (seconds)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0,
        help="mean think time before each form is sent, seconds (default 0)",
    )
    parser.add_argument("--warmup", type=int, default=4, help="warm-up participants (0: none)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the database (and media) afterwards"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for gunicorn (e.g. CWOX_ACCESS_LOG=/dev/null)",
    )
    args = parser.parse_args()
    concurrency = args.concurrency or args.participants

    # SIGTERM ends the run like Ctrl-C does: through the clean-up below.
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="cwox-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "CWOX_MEDIA_ROOT": str(work / "media"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
    }
    port = free_port()
    env["CWOX_BIND"] = f"127.0.0.1:{port}"
    for name, value in (
        ("CWOX_WORKERS", args.workers),
        ("CWOX_THREADS", args.threads),
        ("CWOX_WORKER_CLASS", args.worker_class),
    ):
        if value is not None:
            env[name] = str(value)
    env.update(item.split("=", 1) for item in args.server_env)
    os.environ.update(env)

    server = None
    try:
        start = time.perf_counter()
        recreate_database(args.database_url)
        study, groups = build_studies(work, warmup=args.warmup > 0)
        from django.db import connections

        connections.close_all()
        print(
            f"database {urlsplit(args.database_url).path[1:]}: migrated, study built in "
            f"{time.perf_counter() - start:.1f} s"
        )
        server = Server(env, work / "gunicorn.log")
        base_url = f"http://127.0.0.1:{port}"
        server.wait_healthy(base_url)
        print(f"gunicorn: {describe_server(env)}")
        if args.warmup:
            warm, _ = asyncio.run(simulate(base_url, "warmup", groups, args.warmup, 4, 120))
            if warm.errors:
                print(f"warm-up errors: {dict(warm.errors)} {warm.error_examples}")
        print(
            f"{args.participants} participants, {concurrency} at a time, "
            f"think time {args.think:g} s, "
            f"{sum(STUDY_SHAPE[k] for k in ('training_trials', 'test_trials')) + 1} trials each"
        )
        before = cpu_snapshot(server)
        stats, elapsed = asyncio.run(
            simulate(
                base_url, study, groups, args.participants, concurrency, args.timeout, args.think
            )
        )
        used = {name: value - before[name] for name, value in cpu_snapshot(server).items()}
        p95 = report(stats, elapsed)
        cores = os.cpu_count() or 1
        others = used["machine"] - used["gunicorn"] - used["bench"] - used["postgres"]
        print(
            f"CPU during the run ({cores * elapsed:.1f} core-s on {cores} cores): gunicorn "
            f"{used['gunicorn']:.1f} s, PostgreSQL {used['postgres']:.1f} s, load generator "
            f"{used['bench']:.1f} s, other processes {max(others, 0):.1f} s, idle "
            f"{max(cores * elapsed - used['machine'], 0):.1f} s"
        )
        requests = sum(len(values) for values in stats.latencies.values()) or 1
        print(
            "CPU per request: "
            + ", ".join(
                f"{label} {1000 * used[name] / requests:.2f} ms"
                for name, label in (
                    ("gunicorn", "gunicorn + Django"),
                    ("postgres", "PostgreSQL"),
                    ("bench", "load generator"),
                )
            )
            + f" ({requests} requests)"
        )
        server.stop()
        verdict = verify(stats, study, args.participants)
        for line in verdict.lines:
            print(line)
        errors = sum(stats.errors.values()) + verdict.extra
        ok = not errors and not verdict.lost and not verdict.incomplete and not verdict.unbalanced
        print(f"p95_ms={p95:.1f} errors={errors} lost={verdict.lost}")
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(args.database_url)
            _remove(work)
        else:
            print(f"kept: database {args.database_url}, media and gunicorn log in {work}")


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def describe_server(env: dict[str, str]) -> str:
    """The settings gunicorn runs with (read back from the config with the same env)."""
    probe = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--print-config", "x:y"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wanted = ("worker_class", "workers", "threads", "keepalive", "max_requests", "preload_app")
    found = dict(
        line.split("=", 1)
        for line in probe.stdout.splitlines()
        if "=" in line and line.split("=", 1)[0].strip() in wanted
    )
    return ", ".join(f"{k.strip()}={v.strip()}" for k, v in found.items())


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
