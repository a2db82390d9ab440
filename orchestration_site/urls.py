from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from budget import api as usage_api
from executions import api as executions_api
from executions.github.webhooks import github_webhook
from orchestration_site.dashboard import dashboard

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("executions", executions_api.ExecutionViewSet, basename="execution")
router.register("tasks", executions_api.TaskViewSet, basename="task")
router.register("pull-requests", executions_api.PullRequestViewSet, basename="pull-request")

api_v1 = [
    path("usage/current/", usage_api.UsageCurrentView.as_view(), name="usage-current"),
    path("usage/months/", usage_api.UsageMonthsView.as_view(), name="usage-months"),
    path("usage/daily/", usage_api.UsageDailyView.as_view(), name="usage-daily"),
    path("usage/models/", usage_api.UsageModelsView.as_view(), name="usage-models"),
    *router.urls,
]

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer this path.
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("webhooks/github/", github_webhook, name="github-webhook"),
]
