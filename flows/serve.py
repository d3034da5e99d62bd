"""Serve the project's deployments (the long-running process ``make serve`` starts).

Deployments are derived from ``case_studies.yaml`` each time this process starts:

- ``monitor/<region>`` for every region, on the region's cron schedule (``monitor/norway``...);
- ``ingest/catalog``, ``train/sweep`` and ``ensemble/select``, run on demand, with parameters a
  user can override: ``prefect deployment run train/sweep --param profile=smoke``.

Adding a region to the catalog and restarting this process gives its ``monitor/<region>``.
The process outlives restarts of the Prefect server (:func:`gee_landslide.ops.supervisor.serve_forever`).
"""

from __future__ import annotations

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from gee_landslide.core.catalog import load_catalog
from gee_landslide.core.paths import project_paths
from gee_landslide.ops.deployments import deployment_specs
from gee_landslide.ops.supervisor import serve_forever


def build_deployments() -> list:
    from flows.ensemble import ensemble
    from flows.ingest import ingest
    from flows.monitor import monitor
    from flows.train import train

    flows = {"ingest": ingest, "train": train, "ensemble": ensemble, "monitor": monitor}
    catalog = load_catalog(project_paths().catalog)
    out = []
    for spec in deployment_specs(catalog):
        out.append(
            flows[spec.flow].to_deployment(
                name=spec.name,
                schedules=[Cron(spec.cron, timezone=spec.timezone)] if spec.cron else None,
                parameters=spec.parameters,
                description=spec.description,
                tags=["gee-landslide", spec.flow],
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=spec.concurrency_limit, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE,
                ) if spec.concurrency_limit else None,
            )
        )
    return out


def main() -> None:
    serve_forever(build_deployments, limit=2)


if __name__ == "__main__":
    main()
