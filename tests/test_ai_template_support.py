from saas_workflow_ai.lib import template_support as sup

GOOD = {
    "project_name": "Support",
    "category_threshold": 0.8,
    "priority_threshold": 0.9,
    "urgent_response_hours": 1.0,
    "urgent_resolution_hours": 8.0,
    "normal_response_hours": 4.0,
    "normal_resolution_hours": 24.0,
    "check_minutes": 5,
    "team_lead": 2,
}


def test_project_domain_is_a_literal_domain():
    assert sup.project_domain(7) == "[('project_id', '=', 7)]"
    assert sup.project_domain("7", ("priority", "=", "1")) == (
        "[('project_id', '=', 7), ('priority', '=', '1')]")


def test_sla_rows_urgent_first():
    urgent, normal = sup.sla_rows(GOOD)
    assert urgent["sequence"] < normal["sequence"]
    assert urgent["priority"] == "1"
    assert normal["priority"] is None  # every other ticket of the project
    assert (urgent["response_hours"], urgent["resolution_hours"]) == (1.0, 8.0)
    assert (normal["response_hours"], normal["resolution_hours"]) == (4.0, 24.0)


def test_routing_rows_only_for_categories_with_an_agent():
    rows = sup.routing_rows({"billing": "bill", "technical": None})
    assert rows == [("route_billing", "billing", "Billing", "bill")]
    assert sup.routing_rows({}) == []


def test_labels_cover_the_task_priorities():
    assert dict(sup.PRIORITIES) == {"normal": "0", "urgent": "1"}
    assert [label for label, _tag in sup.CATEGORIES] == ["billing", "technical", "account"]


def test_good_params():
    assert sup.check_params(GOOD) == []


def test_bad_params():
    problems = sup.check_params(dict(
        GOOD, project_name=" ", category_threshold=0, priority_threshold=1.2,
        urgent_resolution_hours=0, check_minutes=0, team_lead=None))
    text = "\n".join(problems)
    assert "project" in text
    assert "category_threshold" in text and "priority_threshold" in text
    assert "urgent tickets: the resolution time must be positive" in text
    assert "every minute" in text
    assert "team lead" in text


def test_response_longer_than_resolution_and_urgent_slower_than_normal():
    problems = sup.check_params(dict(GOOD, normal_response_hours=30.0))
    assert any("response time exceeds" in p for p in problems)
    problems = sup.check_params(dict(GOOD, urgent_resolution_hours=30.0,
                                     urgent_response_hours=1.0))
    assert any("longer resolution time" in p for p in problems)
