"""Which Prefect deployments the project has, derived from the catalog (no Prefect import).

Kept apart from ``flows/serve.py`` so the rule "every region gets ``monitor/<region>`` on its
cron schedule" is plain data that tests can check without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gee_landslide.core.catalog import Catalog


@dataclass(frozen=True)
class DeploymentSpec:
    flow: str
    name: str
    cron: str | None = None
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # at most this many runs of the deployment at once; further runs wait for a slot (Prefect's
    # deployment concurrency limit, ENQUEUE strategy): two passes of a region never overlap
    concurrency_limit: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


def deployment_specs(catalog: Catalog) -> list[DeploymentSpec]:
    specs = [
        DeploymentSpec("ingest", "catalog",
                       description="Build the 15-band stack of every catalog event (skips complete ones)."),
        DeploymentSpec("train", "sweep", parameters={"profile": "laptop"},
                       description="Run the training sweep of a profile (resumable)."),
        DeploymentSpec("ensemble", "select", parameters={"setting": "s1s2", "k": 20},
                       description="Build the top-K ensemble of a band setting and its report."),
    ]
    for region_id, region in catalog.regions.items():
        specs.append(
            DeploymentSpec(
                "monitor", region_id, cron=region.schedule, timezone=region.timezone,
                parameters={"region": region_id}, concurrency_limit=1,
                description=f"Scheduled monitoring pass over {region.name}.",
            )
        )
    return specs
