"""Project tasks in chat: ``project_tasks``, ``add_task`` and ``complete_task``, called directly.

Was: "add a task on kellogg: order cabinets, due friday" got "Which project?" and "tasks on
kellogg?" a list of every project: the agent had no task tool, although the construction
service (and ``/projects/{id}/tasks``) has tasks. Real database, real services.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, select

from core.clock import local_today
from domain.auth.enums import Role
from domain.auth.models import User
from domain.construction import service as construction_service
from domain.construction.enums import ProjectStatus, TaskStatus
from domain.construction.models import ProjectUpdate, Task, TaskCreate
from tests.factories import (
    make_contractor,
    make_deal,
    make_org,
    make_project,
    make_property,
    make_user,
)
from tests.tools.helpers import call_tool, context_for
from tools import tools_for_role
from tools.construction import add_task, complete_task, project_tasks


@dataclass
class World:
    admin: User
    ivy: User  # owns the Kercheval deal
    olaf: User  # another investor
    org_id: uuid.UUID
    kercheval_id: uuid.UUID
    mack_id: uuid.UUID


@pytest.fixture
def world(db: Session) -> World:
    org = make_org(db, "Task Tools Co")
    admin = make_user(db, org, Role.admin)
    ivy = make_user(db, org, Role.investor)
    olaf = make_user(db, org, Role.investor)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    mack = make_property(
        db, org, address_line="9000 Mack Ave", city="Detroit", state="MI", zip_code="48214"
    )
    deal = make_deal(db, org, owner=ivy, property_id=kercheval.id, strategy="flip")
    k_project = make_project(
        db,
        org,
        name="Rehab: 14500 Kercheval Ave",
        deal_id=deal.id,
        property_id=kercheval.id,
        scope=(("roof", "22", "squares", "9500"), ("kitchen cabinets", "1", "each", "4200")),
    )
    m_project = make_project(db, org, name="Make-ready: 9000 Mack Ave", property_id=mack.id)
    make_contractor(db, org, name="Ray's Roofing", trades=["roofing"])
    make_contractor(
        db, org, name="Cabinet Kings", company="Cabinet Kings LLC", trades=["carpentry"]
    )
    return World(admin, ivy, olaf, org.id, k_project.id, m_project.id)


def _task(db: Session, w: World, title: str, **fields: Any) -> Task:
    return construction_service.create_task(
        session=db,
        org_id=w.org_id,
        project_id=fields.pop("project_id", w.kercheval_id),
        task_in=TaskCreate(title=title, **fields),
    )


def _tasks(db: Session, project_id: uuid.UUID) -> list[Task]:
    return list(db.exec(select(Task).where(Task.project_id == project_id)).all())


# --- the role policy ------------------------------------------------------------------------


def test_the_team_has_the_three_task_tools_and_an_investor_only_the_list() -> None:
    for role in (Role.admin, Role.analyst):
        names = {t.name for t in tools_for_role(role)}
        assert {"project_tasks", "add_task", "complete_task"} <= names
    investor = {t.name for t in tools_for_role(Role.investor)}
    assert "project_tasks" in investor
    assert not {"add_task", "complete_task"} & investor
    assert not {"project_tasks", "add_task", "complete_task"} & {
        t.name for t in tools_for_role(Role.contractor)
    }


# --- project_tasks --------------------------------------------------------------------------


def test_project_tasks_lists_open_ones_first_with_counts_assignee_line_and_blockers(
    db: Session, world: World
) -> None:
    ray = construction_service.contractors_named(session=db, org_id=world.org_id, name="Ray")[0]
    roof = construction_service.scope_line_named(
        session=db, org_id=world.org_id, project_id=world.kercheval_id, name="roof"
    )
    assert roof is not None
    tear_off = _task(db, world, "Tear off the roof", due_date=local_today() - dt.timedelta(days=3))
    _task(db, world, "Dumpster delivered", status=TaskStatus.done)
    _task(
        db,
        world,
        "Shingle the roof",
        due_date=local_today() + dt.timedelta(days=4),
        assignee_contractor_id=ray.id,
        scope_item_id=roof.id,
        depends_on=[tear_off.id],
    )
    _task(db, world, "Old permit", status=TaskStatus.cancelled)
    _task(db, world, "Paint the porch", project_id=world.mack_id)

    result = call_tool(project_tasks, context_for(db, world.admin), project="kercheval")

    assert "error" not in result, result
    assert result["address"].startswith("14500 Kercheval Ave")
    assert result["counts"] == {"total": 4, "open": 2, "done": 1, "cancelled": 1, "late": 1}
    assert [t["title"] for t in result["tasks"]] == [
        "Tear off the roof",
        "Shingle the roof",
        "Dumpster delivered",
        "Old permit",
    ]
    first, second = result["tasks"][0], result["tasks"][1]
    assert first["days_late"] == 3 and first["due_date"] == str(
        local_today() - dt.timedelta(days=3)
    )
    assert first["task"] == tear_off.id.hex[:8]
    assert second["assignee"] == "Ray's Roofing"
    assert second["line"] == "roof"
    assert second["blocked_by"] == ["Tear off the roof"]
    assert second["days_late"] is None
    assert "Paint the porch" not in str(result)

    only_open = call_tool(
        project_tasks, context_for(db, world.admin), project="kercheval", status="open"
    )
    assert [t["title"] for t in only_open["tasks"]] == ["Tear off the roof", "Shingle the roof"]
    assert only_open["counts"]["total"] == 4 and only_open["matching"] == 2
    done = call_tool(
        project_tasks, context_for(db, world.admin), project="kercheval", status="done"
    )
    assert [t["title"] for t in done["tasks"]] == ["Dumpster delivered"]
    assert done["tasks"][0]["completed_on"] == str(local_today())


def test_project_tasks_for_investors_only_on_their_own_deals_projects(
    db: Session, world: World
) -> None:
    _task(db, world, "Order cabinets")
    own = call_tool(project_tasks, context_for(db, world.ivy), project="14500 Kercheval Ave")
    assert [t["title"] for t in own["tasks"]] == ["Order cabinets"]

    other = call_tool(project_tasks, context_for(db, world.olaf), project=str(world.kercheval_id))
    assert "not found" in other["error"]
    assert "Order cabinets" not in str(other)
    team_project = call_tool(project_tasks, context_for(db, world.ivy), project=str(world.mack_id))
    assert "not found" in team_project["error"]


def test_bad_arguments_are_refused_before_a_tool_runs(db: Session, world: World) -> None:
    ctx = context_for(db, world.admin)
    with pytest.raises(ValueError, match="status"):
        call_tool(project_tasks, ctx, project="kercheval", status="finished")
    with pytest.raises(ValueError, match="at most 200 characters"):
        call_tool(add_task, ctx, project="kercheval", title="x" * 201)
    with pytest.raises(ValueError, match="due"):
        call_tool(add_task, ctx, project="kercheval", title="tile", due="friday")
    with pytest.raises(ValueError, match="at least 1 character"):
        call_tool(complete_task, ctx, project="kercheval", task="")
    assert _tasks(db, world.kercheval_id) == []


# --- add_task ---------------------------------------------------------------------------------


def test_add_task_with_a_due_date_an_assignee_and_a_line(db: Session, world: World) -> None:
    friday = local_today() + dt.timedelta(days=(4 - local_today().weekday()) % 7)
    result = call_tool(
        add_task,
        context_for(db, world.admin),
        project="kercheval",
        title="order cabinets",
        due=friday.isoformat(),
        assignee="cabinet kings",
        line="cabinets",
    )

    assert "error" not in result, result
    assert result["added"] is True and result["status"] == "todo"
    assert result["due_date"] == str(friday)
    assert result["assignee"] == "Cabinet Kings" and result["line"] == "kitchen cabinets"
    assert result["counts"]["open"] == 1
    (task,) = _tasks(db, world.kercheval_id)
    assert task.title == "order cabinets" and task.due_date == friday
    assert result["task"] == task.id.hex[:8]
    assert task.assignee_contractor_id is not None and task.scope_item_id is not None


def test_add_task_due_today_is_fine_and_a_past_date_is_refused(db: Session, world: World) -> None:
    ctx = context_for(db, world.admin)
    yesterday = local_today() - dt.timedelta(days=1)
    refused = call_tool(
        add_task, ctx, project="kercheval", title="order cabinets", due=yesterday.isoformat()
    )
    assert refused["error"] == (
        f"the due date {yesterday.isoformat()} is in the past "
        f"(today is {local_today().isoformat()}): give today or a later date"
    )
    assert _tasks(db, world.kercheval_id) == []

    today = call_tool(
        add_task, ctx, project="kercheval", title="pull permit", due=str(local_today())
    )
    assert today["due_date"] == str(local_today())


def test_add_task_says_what_is_wrong(db: Session, world: World) -> None:
    ctx = context_for(db, world.admin)
    no_line = call_tool(add_task, ctx, project="kercheval", title="tile", line="bathroom")
    assert no_line["error"].startswith("the project has no 'bathroom' scope line")
    assert "'roof'" in no_line["error"] and "'kitchen cabinets'" in no_line["error"]
    nobody = call_tool(add_task, ctx, project="kercheval", title="tile", assignee="Zeke")
    assert nobody["error"].startswith("no contractor called 'Zeke' is on file")
    blank = call_tool(add_task, ctx, project="kercheval", title="   ")
    assert "title" in blank["error"]
    assert _tasks(db, world.kercheval_id) == []

    construction_service.update_project(
        session=db,
        org_id=world.org_id,
        project_id=world.mack_id,
        project_in=ProjectUpdate(status=ProjectStatus.cancelled),
    )
    closed = call_tool(add_task, ctx, project=str(world.mack_id), title="paint")
    assert closed["error"].endswith("is cancelled: reopen the project first to add a task")
    assert _tasks(db, world.mack_id) == []


def test_add_task_notes_an_open_task_of_the_same_title(db: Session, world: World) -> None:
    first = _task(db, world, "Order cabinets")
    again = call_tool(
        add_task, context_for(db, world.admin), project="kercheval", title="order cabinets"
    )
    assert again["notes"] == [
        f"an open task 'Order cabinets' ({first.id.hex[:8]}) was already on this project"
    ]


def test_investors_cannot_add_or_complete_tasks_even_when_called(db: Session, world: World) -> None:
    task = _task(db, world, "Order cabinets")
    ctx = context_for(db, world.ivy)
    added = call_tool(add_task, ctx, project="kercheval", title="new roof")
    assert added == {"error": "not allowed for the investor role"}
    completed = call_tool(complete_task, ctx, project="kercheval", task="order cabinets")
    assert completed == {"error": "not allowed for the investor role"}
    db.refresh(task)
    assert task.status == TaskStatus.todo
    assert len(_tasks(db, world.kercheval_id)) == 1


# --- complete_task ----------------------------------------------------------------------------


def test_complete_task_by_title_words_and_by_short_id(db: Session, world: World) -> None:
    cabinets = _task(db, world, "Order cabinets", due_date=local_today() + dt.timedelta(days=2))
    install = _task(db, world, "Install cabinets", depends_on=[cabinets.id])
    ctx = context_for(db, world.admin)

    result = call_tool(complete_task, ctx, project="kercheval", task="the order cabinets task")

    assert "error" not in result, result
    assert result["completed"] is True and result["title"] == "Order cabinets"
    assert result["completed_on"] == str(local_today())
    assert result["unblocked"] == ["Install cabinets"]
    assert result["counts"]["done"] == 1 and result["counts"]["open"] == 1
    db.refresh(cabinets)
    assert cabinets.status == TaskStatus.done and cabinets.completed_at is not None

    by_id = call_tool(complete_task, ctx, project="kercheval", task=install.id.hex[:8])
    assert by_id["title"] == "Install cabinets", by_id
    db.refresh(install)
    assert install.status == TaskStatus.done


def test_complete_task_blocked_by_an_open_task_says_which(db: Session, world: World) -> None:
    cabinets = _task(db, world, "Order cabinets")
    install = _task(db, world, "Install cabinets", depends_on=[cabinets.id])

    result = call_tool(
        complete_task, context_for(db, world.admin), project="kercheval", task="install cabinets"
    )

    assert result["error"] == (
        f"'Install cabinets' can't be marked done yet: it waits on 'Order cabinets' "
        f"({cabinets.id.hex[:8]}, todo), not done. Mark that done first."
    )
    db.refresh(install)
    assert install.status == TaskStatus.todo and install.completed_at is None


def test_complete_task_lists_the_candidates_when_words_fit_several_or_none(
    db: Session, world: World
) -> None:
    order = _task(db, world, "Order cabinets")
    install = _task(db, world, "Install cabinets", due_date=local_today() + dt.timedelta(days=9))
    ctx = context_for(db, world.admin)

    several = call_tool(complete_task, ctx, project="kercheval", task="cabinets")
    assert several["error"] == (
        f"2 tasks fit 'cabinets' ('Install cabinets' ({install.id.hex[:8]}, todo, due "
        f"{(local_today() + dt.timedelta(days=9)).isoformat()}); "
        f"'Order cabinets' ({order.id.hex[:8]}, todo)): say which, by its id"
    )
    none = call_tool(complete_task, ctx, project="kercheval", task="paint the porch")
    assert none["error"].startswith("no task of this project is called 'paint the porch'")
    assert "its open tasks: 'Install cabinets' (" in none["error"]
    assert f"'Order cabinets' ({order.id.hex[:8]}, todo)" in none["error"]
    for task in (order, install):
        db.refresh(task)
        assert task.status == TaskStatus.todo


def test_complete_task_prefers_the_open_task_and_the_exact_title(db: Session, world: World) -> None:
    _task(db, world, "Order cabinets", status=TaskStatus.done)
    _task(db, world, "Order cabinets hardware")
    again = _task(db, world, "Order cabinets")

    result = call_tool(
        complete_task, context_for(db, world.admin), project="kercheval", task="order cabinets"
    )

    assert result.get("task") == again.id.hex[:8], result


def test_complete_task_already_done_changes_nothing(db: Session, world: World) -> None:
    done = _task(db, world, "Dumpster delivered", status=TaskStatus.done)
    result = call_tool(
        complete_task, context_for(db, world.admin), project="kercheval", task="dumpster"
    )
    assert result["error"] == (
        f"'Dumpster delivered' ({done.id.hex[:8]}) was already marked done on "
        f"{local_today().isoformat()}: nothing changed"
    )
