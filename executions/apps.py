from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self):
        from budget.model_calendar import register_configured_models
        from budget.selectors import register_repository_figures
        from executions.pipeline.steps import configured_model_names
        from executions.repositories.standing import figures

        # The budget reports on the configured models and on each repository's figures without
        # importing this app.
        register_configured_models(configured_model_names)
        register_repository_figures(figures)
