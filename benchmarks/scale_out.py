"""Scale-out figures for a generated service with jobs (PostgreSQL, accounts, API,
Celery), all on this machine's loopback, as tests/test_scale_out.py runs it:

    uv run python benchmarks/scale_out.py [--requests 3000] [--jobs 200]

- requests per second through nginx to GET /api/v1/items, with one instance and
  with two (each gunicorn with 2 workers), and their ratio;
- jobs per second through one worker (2 processes) for the sample job: exports
  of 10 items each, queued all at once;
- the end-to-end latency of a small export: POST, poll its status every 20 ms
  until it has succeeded, then download the file (median and worst of 10);
- how long a rolling restart of two instances takes (SIGTERM, start, wait until
  ready, one at a time).

On a shared machine read the ratio and the orders of magnitude, not the digits:
with 2 cores, two instances compete with each other, nginx, PostgreSQL and the
load for the same CPUs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cluster import PASSWORD, Client, Cluster, running_cluster
from helpers import ROOT, PostgresServer, Project, render, snapshot_template

ANSWERS = {"database": "postgresql", "jobs": "celery"}
QUEUE_EXPORTS = """
import json, sys, time
from {package} import create_app
from {package}.extensions import db
from {package}.jobs.exports import export_items
from {package}.models import Export, User

app = create_app()
with app.app_context():
    owner = db.session.scalars(db.select(User).filter_by(username="alice")).one()
    exports = [Export(owner_id=owner.id) for _ in range({jobs})]
    db.session.add_all(exports)
    db.session.commit()
    ids = [export.id for export in exports]
    started = time.time()
    for export_id in ids:
        export_items.delay(export_id)
    while db.session.scalar(
        db.select(db.func.count()).where(Export.id.in_(ids), Export.status != "succeeded")
    ):
        db.session.rollback()
        time.sleep(0.05)
    print(json.dumps({{"jobs": len(ids), "seconds": time.time() - started}}))
"""


def requests_per_second(cluster: Cluster, client: Client, requests: int) -> float:
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    output = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "load.py"),
            f"http://127.0.0.1:{cluster.nginx_port}/api/v1/items",
            "--requests",
            str(requests),
            "--concurrency",
            "16",
            "--header",
            f"Cookie: {cookie}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    outcome = json.loads(output)
    assert set(outcome["statuses"]) == {"200"}, outcome
    return outcome["requests_per_second"]


def logged_in(cluster: Cluster) -> Client:
    client = Client(cluster.nginx_port)
    assert client.log_in("alice", PASSWORD).status == 302
    for number in range(10):
        assert client.api("POST", "/items", {"name": f"Item {number}"}).status == 201
    return client


def export_latency(cluster: Cluster, client: Client) -> float:
    started = time.perf_counter()
    queued = client.api("POST", "/exports", {})
    assert queued.status == 202, queued.text
    while (status := client.get(queued.headers["Location"]).json())["status"] != "succeeded":
        assert status["status"] != "failed", status
        time.sleep(0.02)
    assert client.get(status["download_url"]).status == 200
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=200)
    options = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            template = snapshot_template(base / "template")
            project = Project(render(template, base / "svc", ANSWERS)).install()
            figures: dict[str, object] = {}
            for instances in (1, 2):
                work = base / f"cluster-{instances}"
                work.mkdir()
                with running_cluster(
                    project, postgres.create_database(), work, instances
                ) as cluster:
                    client = logged_in(cluster)
                    requests_per_second(cluster, client, 300)  # warm up
                    figures[f"requests_per_second_{instances}_instance"] = requests_per_second(
                        cluster, client, options.requests
                    )
                    if instances == 1:
                        continue
                    latencies = sorted(export_latency(cluster, client) for _ in range(10))
                    figures["small_export_latency_ms"] = {
                        "median": round(statistics.median(latencies) * 1000, 1),
                        "worst": round(latencies[-1] * 1000, 1),
                    }
                    script = QUEUE_EXPORTS.format(package=project.package, jobs=options.jobs)
                    queued = json.loads(project.run("python", "-c", script, env=cluster.env).stdout)
                    figures["jobs_per_second_one_worker"] = round(
                        queued["jobs"] / queued["seconds"], 1
                    )
                    started = time.monotonic()
                    for index in range(instances):
                        cluster.stop(index)
                        cluster.start(index)
                    figures["rolling_restart_seconds"] = round(time.monotonic() - started, 1)
            one = figures["requests_per_second_1_instance"]
            two = figures["requests_per_second_2_instance"]
            figures["two_to_one_ratio"] = round(two / one, 2)  # type: ignore[operator]
            print(json.dumps(figures, indent=2))
    finally:
        postgres.stop()
        postgres.remove()


if __name__ == "__main__":
    main()
