"""Support template: what its activation configures, as plain data (no Odoo import).

Tickets are tasks of one project. The AI profile answers two fields: ``category``
(a tag per label) and ``priority`` (``normal`` = task priority ``0``, ``urgent`` =
``1``). One SLA policy per priority, urgent first (the first matching policy
applies), and one routing rule per category that has an assignee.
"""

# label -> tag name
CATEGORIES = (
    ("billing", "Billing"),
    ("technical", "Technical"),
    ("account", "Account"),
)
# label -> project.task priority value
PRIORITIES = (
    ("normal", "0"),
    ("urgent", "1"),
)
RESOLVED_STATES = ("1_done", "1_canceled")


def project_domain(project_id, *extra):
    """Domain text on project.task for the support project, plus ``extra`` leaves."""
    leaves = [("project_id", "=", int(project_id)), *extra]
    return repr(leaves)


def sla_rows(params):
    """One SLA policy per priority, the most urgent first.

    Each row: key, name, sequence, priority value (None: every ticket of the
    project), response and resolution hours.
    """
    return [
        {
            "key": "sla_urgent",
            "name": "Support: urgent tickets",
            "sequence": 10,
            "priority": "1",
            "response_hours": float(params.get("urgent_response_hours") or 0.0),
            "resolution_hours": float(params.get("urgent_resolution_hours") or 0.0),
        },
        {
            "key": "sla_normal",
            "name": "Support: normal tickets",
            "sequence": 20,
            "priority": None,
            "response_hours": float(params.get("normal_response_hours") or 0.0),
            "resolution_hours": float(params.get("normal_resolution_hours") or 0.0),
        },
    ]


def routing_rows(assignees):
    """``[(key, label, tag name, user)]`` for the categories that have an assignee.

    ``assignees`` maps a category label to a user (or a falsy value).
    """
    return [
        (f"route_{label}", label, tag, assignees.get(label))
        for label, tag in CATEGORIES
        if assignees.get(label)
    ]


def check_params(params):
    """Human-readable problems of the template parameters (empty when fine)."""
    problems = []
    if not (params.get("project_name") or "").strip():
        problems.append("Name the support project.")
    for key in ("category_threshold", "priority_threshold"):
        value = params.get(key)
        if value is None or not 0 < value <= 1:
            problems.append(f"The confidence threshold {key} must be in (0, 1].")
    for row in sla_rows(params):
        if row["resolution_hours"] <= 0:
            problems.append(f"{row['name']}: the resolution time must be positive.")
        if row["response_hours"] < 0:
            problems.append(f"{row['name']}: the response time cannot be negative.")
        if row["response_hours"] and row["response_hours"] > row["resolution_hours"]:
            problems.append(f"{row['name']}: the response time exceeds the resolution time.")
    urgent, normal = sla_rows(params)
    if urgent["resolution_hours"] > normal["resolution_hours"] > 0:
        problems.append("Urgent tickets cannot have a longer resolution time than normal ones.")
    if (params.get("check_minutes") or 0) < 1:
        problems.append("Check the SLA deadlines at least every minute (check interval >= 1).")
    if not params.get("team_lead"):
        problems.append("Choose the team lead who gets breached tickets.")
    return problems
