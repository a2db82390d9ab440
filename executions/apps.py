from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self):
        from budget.model_calendar import register_configured_models
        from executions.steps import configured_model_names

        # The budget reports on the configured models without importing this app.
        register_configured_models(configured_model_names)
