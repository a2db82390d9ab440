"""Executions, tasks and pull requests endpoints (``/api/v1/executions/``, ``/api/v1/tasks/``,
``/api/v1/pull-requests/``).

Reading needs an authenticated user; creating and running tasks needs staff. Views only parse,
call a service, and render.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from budget.periods import parse_month
from budget.serializers import ErrorSerializer
from executions.backlog import services
from executions.errors import InvalidTask
from executions.models import Execution, PullRequest, Task
from executions.revisions import lifecycle
from executions.serializers import (
    ExecutionDetailSerializer,
    ExecutionSerializer,
    PullRequestSerializer,
    TaskCreateSerializer,
    TaskQueuedSerializer,
    TaskSerializer,
)

ERROR = OpenApiResponse(ErrorSerializer, description="Refused; `detail` says why.")
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def not_runnable(task: Task) -> str:
    return f"Task {task.pk} is {task.status}; only a pending task can run now (requeue it first)."


class ReadAuthenticatedWriteStaff(BasePermission):
    message = "Only staff users may change tasks."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or user.is_staff


class Pages(PageNumberPagination):
    """DRF's page numbers, but a page that is not there is a 400 with a readable message."""

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            raise ParseError(
                f"page must be a whole number from 1 to the last page (got {request.query_params.get('page')!r})"
            ) from None


def _int_param(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise ParseError(f"{name} must be a positive whole number (got {text!r})")
    return int(text)


def _status_filter(
    queryset: QuerySet, request: Request, statuses: list[str], *, name: str = "status"
) -> QuerySet:
    """Only rows with ``?status=`` (or ``?<name>=``), when given; a value that does not exist is a 400."""
    value = request.query_params.get(name)
    if value is None:
        return queryset
    if value not in statuses:
        raise ParseError(f"{name} must be one of {', '.join(statuses)} (got {value!r})")
    return queryset.filter(**{name: value})


EXECUTION_FILTERS = [
    OpenApiParameter(
        "status", OpenApiTypes.STR, enum=Execution.Status.values, description="Only this status."
    ),
    OpenApiParameter("task", OpenApiTypes.INT, description="Only executions of this task id."),
    OpenApiParameter(
        "month", OpenApiTypes.STR, pattern=r"^\d{4}-\d{2}$", description="Only this budget month (YYYY-MM)."
    ),
    OpenApiParameter(
        "simulated", OpenApiTypes.BOOL, description="Only simulated (true) or live (false) runs."
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="Executions, newest first",
        parameters=EXECUTION_FILTERS,
        responses={200: ExecutionSerializer(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
        tags=["executions"],
    ),
    retrieve=extend_schema(
        summary="One execution with its model calls",
        responses={200: ExecutionDetailSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
        tags=["executions"],
    ),
)
class ExecutionViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pages
    queryset = Execution.objects.select_related("task", "period").order_by("-created_at", "-pk")

    def get_serializer_class(self):
        return ExecutionDetailSerializer if self.action == "retrieve" else ExecutionSerializer

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            return queryset.prefetch_related("calls")
        return self.filter(queryset, self.request)

    @staticmethod
    def filter(queryset: QuerySet[Execution], request: Request) -> QuerySet[Execution]:
        params = request.query_params
        queryset = _status_filter(queryset, request, Execution.Status.values)
        if (task := _int_param(request, "task")) is not None:
            queryset = queryset.filter(task_id=task)
        if (value := params.get("month")) is not None:
            try:
                queryset = queryset.filter(period__month=parse_month(value))
            except ValueError as exc:
                raise ParseError(str(exc)) from None
        if (value := params.get("simulated")) is not None:
            if value.lower() not in BOOLEANS:
                raise ParseError(f"simulated must be true or false (got {value!r})")
            queryset = queryset.filter(simulated=BOOLEANS[value.lower()])
        return queryset


@extend_schema_view(
    list=extend_schema(
        summary="Tasks, in the order they will run",
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=Task.Status.values, description="Only this status."
            )
        ],
        responses={200: TaskSerializer(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
        tags=["tasks"],
    ),
    retrieve=extend_schema(
        summary="One task",
        responses={200: TaskSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
        tags=["tasks"],
    ),
    create=extend_schema(
        summary="Add a task to the backlog (staff)",
        request=TaskCreateSerializer,
        responses={
            201: TaskSerializer,
            400: OpenApiResponse(description="Invalid fields."),
            401: ERROR,
            403: ERROR,
        },
        tags=["tasks"],
    ),
)
class TaskViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    permission_classes = [ReadAuthenticatedWriteStaff]
    pagination_class = Pages
    queryset = Task.objects.select_related("repository").order_by("-priority", "created_at", "pk")
    serializer_class = TaskSerializer

    def get_queryset(self) -> QuerySet[Task]:
        queryset = super().get_queryset()
        return (
            _status_filter(queryset, self.request, Task.Status.values) if self.action == "list" else queryset
        )

    def create(self, request: Request) -> Response:
        form = TaskCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            task = services.create_task(**form.validated_data, source=Task.Source.API)
        except InvalidTask as exc:
            raise ParseError(str(exc)) from None
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Queue an execution of this task now (staff)",
        request=None,
        responses={202: TaskQueuedSerializer, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        tags=["tasks"],
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        task = self.get_object()
        if task.status != Task.Status.PENDING:  # the worker would refuse it: say so now
            return Response({"detail": not_runnable(task)}, status=status.HTTP_409_CONFLICT)
        queued = services.queue_task(task)
        return Response({"task": task.pk, "queued": str(queued)}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="The pull requests the product opened, newest first, with their revisions and cost",
        parameters=[
            OpenApiParameter(
                "state", OpenApiTypes.STR, enum=PullRequest.State.values, description="Only this state."
            )
        ],
        responses={200: PullRequestSerializer(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
        tags=["pull requests"],
    ),
    retrieve=extend_schema(
        summary="One pull request",
        responses={200: PullRequestSerializer, 401: ERROR, 403: ERROR, 404: ERROR},
        tags=["pull requests"],
    ),
)
class PullRequestViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = Pages
    serializer_class = PullRequestSerializer
    queryset = PullRequest.objects.select_related("task").order_by("-opened_at", "-pk")

    def get_queryset(self) -> QuerySet[PullRequest]:
        queryset = lifecycle.with_totals(super().get_queryset())
        if self.action == "list":
            queryset = _status_filter(queryset, self.request, PullRequest.State.values, name="state")
        return queryset
