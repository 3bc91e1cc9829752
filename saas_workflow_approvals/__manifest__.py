{
    "name": "SaaS Workflow Approvals",
    "summary": "Configurable approvals for any model: escalation, delegation, "
    "segregation of duties, approve from the activity",
    "version": "18.0.1.0.0",
    "license": "LGPL-3",
    "author": "SaaS Workflow",
    "website": "https://github.com/saas-workflow/saas-workflow",
    "category": "Productivity/Workflow",
    "depends": ["saas_workflow_core", "mail"],
    "external_dependencies": {"python": []},
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "data/ir_sequence.xml",
        "data/mail_activity_type.xml",
        "data/event_types.xml",
        "data/ir_cron.xml",
        "wizards/reject_wizard_views.xml",
        "views/policy_views.xml",
        "views/request_views.xml",
        "views/request_step_views.xml",
        "views/decision_views.xml",
        "views/delegation_views.xml",
        "views/mail_activity_views.xml",
        "views/menus.xml",
    ],
    "demo": ["demo/demo.xml"],
    "assets": {
        "web.assets_backend": [
            "saas_workflow_approvals/static/src/activity/*",
        ],
        "web.assets_tests": [
            "saas_workflow_approvals/static/tests/tours/*",
        ],
    },
}
