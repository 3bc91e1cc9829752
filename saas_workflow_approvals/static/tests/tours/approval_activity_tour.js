import { registry } from "@web/core/registry";

/**
 * A finance approver opens the document, finds the approval activity in the
 * chatter and approves it from there.
 */
registry.category("web_tour.tours").add("saas_approval_activity_tour", {
    steps: () => [
        {
            content: "The approval activity waits in the chatter",
            trigger: ".o-mail-Activity:contains('Approve APR/')",
        },
        {
            content: "Approve from the activity",
            trigger: ".o-mail-Activity .o-saas-approval-approve",
            run: "click",
        },
        {
            content: "The activity is gone",
            trigger: ".o-mail-Chatter:not(:has(.o-mail-Activity:contains('Approve APR/')))",
        },
        {
            content: "The chatter logs the decision",
            trigger: ".o-mail-Message:contains('approved step')",
        },
    ],
});
