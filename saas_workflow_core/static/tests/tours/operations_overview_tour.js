import { registry } from "@web/core/registry";

/**
 * A workflow user opens the Workflows app: the operations overview shows its tiles grouped by
 * area; Refresh recomputes them; clicking a tile opens the records behind its figure.
 */
registry.category("web_tour.tours").add("saas_operations_overview_tour", {
    steps: () => [
        {
            content: "Recompute the figures",
            trigger: ".o_control_panel button:contains('Refresh')",
            run: "click",
        },
        {
            content: "The overview groups its tiles by area",
            trigger: ".o_saas_operations_overview .o_kanban_group:contains('Process')",
        },
        {
            content: "The dead deliveries tile shows its value and colour",
            trigger: ".o_kanban_record:contains('Dead deliveries') .border-warning:contains('1')",
        },
        {
            content: "Open the records behind the figure",
            trigger: ".o_kanban_record:contains('Dead deliveries')",
            run: "click",
        },
        {
            content: "The dead letter list shows the dead delivery",
            trigger: ".o_breadcrumb:contains('Dead deliveries')",
        },
        {
            content: "One row: the dead delivery of the period",
            trigger: ".o_list_view .o_data_row:contains('Dead')",
        },
    ],
});
