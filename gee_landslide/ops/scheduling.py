"""What Prefect's scheduler has done and will do with the project's deployments.

Two uses, both reading the Prefect API (never the database):

- **Missed schedules.** Prefect's scheduler creates each deployment's runs ahead of time. When
  the machine sleeps (or the serve process is down) those runs become *Late*, and on wake the
  runner starts every one of them: a region whose daily pass was missed for a week would run
  seven identical passes over today's windows. Prefect 3.8 has no catch-up switch for served
  deployments, so the monitor flow asks :func:`superseding_run` first and skips a run that a
  later, already due run of the same deployment covers: N missed runs give one pass.
- **Status.** :func:`deployment_overview` gives each deployment's schedule, its next run and
  the state of its last run, for ``gee-landslide orchestrate status`` and the demo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

# a run that was cancelled does not do the work of the runs it would supersede
_NOT_COVERING = frozenset({"CANCELLED", "CANCELLING"})


@dataclass(frozen=True)
class RunInfo:
    """The facts about one flow run that the supersede rule looks at."""

    id: str
    name: str
    expected_start: dt.datetime
    state_type: str
    parameters: Mapping[str, Any]

    @property
    def dated(self) -> bool:
        """A run asked for a given date (or a backfill of dates) is a different pass, never a stale
        copy of another."""
        return bool(self.parameters.get("date") or self.parameters.get("backfill_from"))


def superseding_run(mine: RunInfo, others: Iterable[RunInfo], now: dt.datetime) -> RunInfo | None:
    """The latest run that makes ``mine`` redundant, or ``None`` when ``mine`` should run.

    ``others`` are runs of the same deployment. One supersedes ``mine`` when neither asks for a
    given date, it was expected later than ``mine`` and it is already due (so it runs, or ran,
    over windows at least as recent), and it was not cancelled. Of N late runs only the latest
    is superseded by none, whichever order the runner starts them in.
    """
    if mine.dated:
        return None
    newer = [
        o for o in others
        if o.id != mine.id and not o.dated and mine.expected_start < o.expected_start <= now
        and o.state_type not in _NOT_COVERING
    ]
    return max(newer, key=lambda o: o.expected_start) if newer else None


def _run_info(run: Any) -> RunInfo:
    return RunInfo(
        id=str(run.id),
        name=run.name,
        expected_start=run.expected_start_time,
        state_type=run.state.type.value if run.state else "UNKNOWN",
        parameters=run.parameters or {},
    )


def find_superseding_run(flow_run: Any, client: Any) -> RunInfo | None:
    """:func:`superseding_run` for a Prefect flow run, asking the API (``client``: a sync client)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    if flow_run.deployment_id is None or flow_run.expected_start_time is None:
        return None  # run by hand outside a deployment: nothing can supersede it
    now = dt.datetime.now(dt.timezone.utc)
    later = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[flow_run.deployment_id])),
        flow_run_filter=FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(
            after_=flow_run.expected_start_time, before_=now)),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=200,
    )
    return superseding_run(_run_info(flow_run), (_run_info(r) for r in later), now)


@dataclass(frozen=True)
class DeploymentRow:
    """One line of ``orchestrate status``: a deployment, its schedule, its next and last runs."""

    deployment: str
    schedule: str | None
    paused: bool
    next_run: dt.datetime | None
    next_run_state: str | None
    last_run: dt.datetime | None
    last_run_state: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("next_run", "last_run"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def _schedule_text(deployment: Any) -> str | None:
    parts = []
    for s in deployment.schedules or []:
        sched = s.schedule
        text = getattr(sched, "cron", None) or getattr(sched, "rrule", None) or str(getattr(sched, "interval", sched))
        tz = getattr(sched, "timezone", None)
        parts.append(f"{text} {tz}" if tz and tz != "UTC" else text)
    return ", ".join(parts) or None


def deployment_overview(api_url: str) -> list[DeploymentRow]:
    """Every deployment on the server at ``api_url`` with its schedule, next run and last run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    rows: list[DeploymentRow] = []
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        for d in client.read_deployments():
            only_this = DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))
            upcoming = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1,
            )
            last = client.read_flow_runs(
                deployment_filter=only_this,
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    not_any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1,
            )
            nxt = upcoming[0] if upcoming else None
            prev = last[0] if last else None
            rows.append(DeploymentRow(
                deployment=f"{flows.get(d.flow_id, '?')}/{d.name}",
                schedule=_schedule_text(d),
                paused=bool(d.paused),
                next_run=nxt.expected_start_time if nxt else None,
                next_run_state=nxt.state.name if nxt and nxt.state else None,
                last_run=(prev.start_time or prev.expected_start_time) if prev else None,
                last_run_state=prev.state.name if prev and prev.state else None,
            ))
    return sorted(rows, key=lambda r: r.deployment)


def next_scheduled_run(api_url: str, deployment: str) -> DeploymentRow | None:
    """The status row of one deployment (``flow/name``), or ``None`` when the server lacks it."""
    return next((r for r in deployment_overview(api_url) if r.deployment == deployment), None)
