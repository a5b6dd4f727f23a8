"""A tool refused for its arguments tells the user what is wrong in plain words.

Was: "spent $12.345 at Home Depot on paint for kercheval" replied "Sorry, I couldn't book that
expense: ToolInvocationError("Error invoking tool 'record_expense' with kwargs {...} ...
Please fix your mistakes." (text meant for a language model, with every argument). Now the
tool message names the field and the rule, and nothing is booked. Real graph, tools and
database.
"""

from __future__ import annotations

from sqlmodel import Session, select

from agent.graph import tool_error_text
from domain.auth.enums import Role
from domain.construction.models import ProjectExpense
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_project, make_property, make_user


def test_an_amount_with_three_decimals_is_refused_in_plain_words(committed_db: Session) -> None:
    db = committed_db
    org = make_org(db, "Plain Errors Co")
    admin = make_user(db, org, Role.admin)
    kercheval = make_property(
        db, org, address_line="14500 Kercheval Ave", city="Detroit", state="MI", zip_code="48215"
    )
    project = make_project(db, org, name="Rehab: 14500 Kercheval Ave", property_id=kercheval.id)
    db.commit()
    result = checked_turn(admin, "spent $12.345 at Home Depot on paint for kercheval")
    assert result.reply.startswith("Sorry, I couldn't book that expense: amount: "), result.reply
    assert "decimal places" in result.reply
    for leaked in ("ToolInvocationError", "kwargs", "Please fix", "record_expense"):
        assert leaked not in result.reply, result.reply
    booked = db.exec(select(ProjectExpense).where(ProjectExpense.project_id == project.id))
    assert booked.all() == []


def test_other_failures_keep_their_message_without_the_repr() -> None:
    assert tool_error_text(ValueError("no project on kercheval")) == (
        "Error: no project on kercheval"
    )
