"""Each role's system prompt names every tool that role is given.

Was: the team prompt left out `list_contractors`, `qualify_lead` and `my_alerts`, and the
investor prompt eleven of its tools (`pnl`, `list_deals`, `section8_rent` ...), so a model
reading the prompt was never told when to use them.
"""

from __future__ import annotations

import pytest

from agent.prompts import prompt_for_role
from domain.auth.enums import Role
from tools import tools_for_role


@pytest.mark.parametrize("role", list(Role))
def test_the_prompt_names_every_tool_of_the_role(role: Role) -> None:
    text = prompt_for_role(role).text
    missing = [tool.name for tool in tools_for_role(role) if f"`{tool.name}`" not in text]
    assert missing == [], f"{prompt_for_role(role).name}.md does not name {missing}"
