def post_init_hook(env):
    """Create the event sources of the standard catalog for the models already installed."""
    env["saas.workflow.event.type"]._sync_standard_sources()
